from django.urls import path
from newsletter import views

urlpatterns = [
    path("", views.subscribe, name="subscribe"),
    path("subscribers/<int:pk>/", views.subscriber, name="subscriber"),
    path("results/<str:result_id>/", views.welcome_result, name="welcome-result"),
]
