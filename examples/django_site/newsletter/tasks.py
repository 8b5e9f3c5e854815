"""The site's tasks: plain Django Tasks, nothing taskrunner-specific in them.

(On Django 6 and later, import `task` and `TaskContext` from `django.tasks` instead.)
"""

from django.core import mail
from django.utils import timezone
from django_tasks import TaskContext, task

from newsletter.models import Subscriber


# --8<-- [start:send_welcome]
@task()
def send_welcome(subscriber_id: int) -> dict[str, str]:
    """Email a new subscriber, once their row is committed (see views.subscribe)."""
    subscriber = Subscriber.objects.get(pk=subscriber_id)
    if subscriber.email.endswith(".invalid"):
        raise ValueError(f"cannot deliver to {subscriber.email}")
    mail.send_mail(
        "Welcome!", "Thanks for subscribing.", None, [subscriber.email], fail_silently=False
    )
    subscriber.welcomed_at = timezone.now()
    subscriber.save(update_fields=["welcomed_at"])
    return {"to": subscriber.email}
    # --8<-- [end:send_welcome]


# --8<-- [start:sync_to_crm]
@task(takes_context=True, queue_name="crm", priority=10)
def sync_to_crm(context: TaskContext, subscriber_id: int) -> int:
    """Tell the CRM about a subscriber. The CRM (a stand-in) is busy at the first attempt:
    the worker tries again, as the backend's `retries` allow."""
    if context.attempt == 1:
        raise ConnectionError("the CRM is busy, try again later")
    return context.attempt
    # --8<-- [end:sync_to_crm]


@task()
async def count_subscribers(domain: str) -> int:
    """An `async def` task: the worker awaits it on its event loop."""
    count: int = await Subscriber.objects.filter(email__endswith=f"@{domain}").acount()
    return count
