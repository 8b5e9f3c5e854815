"""Sign-up, a subscriber's page, and their welcome email's task result as JSON."""

from contextlib import suppress
from functools import partial

from django import forms
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django_tasks import TaskResult, TaskResultStatus
from django_tasks.exceptions import TaskResultDoesNotExist

from newsletter.models import Subscriber
from newsletter.tasks import send_welcome


class SubscribeForm(forms.Form):
    email = forms.EmailField()


# --8<-- [start:subscribe]
def subscribe_email(email: str) -> Subscriber:
    """Store a subscriber and, once the row is committed, enqueue their welcome email."""
    with transaction.atomic():
        subscriber = Subscriber.objects.create(email=email)
        # not before the commit: the worker must find the row, and a rollback sends nothing
        transaction.on_commit(partial(enqueue_welcome, subscriber.pk))
    return subscriber


def enqueue_welcome(subscriber_id: int) -> None:
    result = send_welcome.enqueue(subscriber_id)
    Subscriber.objects.filter(pk=subscriber_id).update(welcome_task=result.id)
    # --8<-- [end:subscribe]


def subscribe(request: HttpRequest) -> HttpResponse:
    form = SubscribeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        if Subscriber.objects.filter(email=email).exists():
            form.add_error("email", "This address is subscribed already.")
        else:
            subscriber = subscribe_email(email)
            return redirect("subscriber", pk=subscriber.pk)
    return render(request, "newsletter/subscribe.html", {"form": form})


# --8<-- [start:result]
def subscriber(request: HttpRequest, pk: int) -> HttpResponse:
    subscriber = get_object_or_404(Subscriber, pk=pk)
    result = None
    if subscriber.welcome_task:
        with suppress(TaskResultDoesNotExist):  # its record expired (the backend's result_ttl)
            result = send_welcome.get_result(subscriber.welcome_task)
    return render(
        request, "newsletter/subscriber.html", {"subscriber": subscriber, "result": result}
    )


def welcome_result(request: HttpRequest, result_id: str) -> JsonResponse:
    try:
        result = send_welcome.get_result(result_id)
    except TaskResultDoesNotExist:
        return JsonResponse({"error": "no such task result"}, status=404)
    return JsonResponse(describe(result))


def describe(result: TaskResult[dict[str, str]]) -> dict[str, object]:
    """What a page shows of a result: status, attempts, and the value or the errors."""
    done = result.status == TaskResultStatus.SUCCESSFUL
    return {
        "id": result.id,
        "status": str(result.status),
        "attempts": result.attempts,
        "return_value": result.return_value if done else None,
        "errors": [error.traceback.splitlines()[-1] for error in result.errors],
    }
    # --8<-- [end:result]
