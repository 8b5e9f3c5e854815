from django.db import models


class Subscriber(models.Model):
    """Someone who signed up for the newsletter, and what became of their welcome email."""

    email = models.EmailField(unique=True)
    subscribed_at = models.DateTimeField(auto_now_add=True)
    welcome_task = models.CharField(max_length=64, blank=True)  # the TaskResult's id
    welcomed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.email
