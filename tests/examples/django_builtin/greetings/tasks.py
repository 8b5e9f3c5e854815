"""Plain Django tasks, declared with Django's own `django.tasks`."""

from django.tasks import TaskContext, task


@task()
def greet(name: str, punctuation: str = "!") -> str:
    return f"hello {name}{punctuation}"


@task(queue_name="loud", priority=10)
async def shout(text: str) -> str:
    return text.upper()


@task(takes_context=True)
def which_attempt(context: TaskContext, label: str) -> dict[str, object]:
    return {"label": label, "attempt": context.attempt, "id": context.task_result.id}


@task()
def broken() -> None:
    raise LookupError("nothing to find")
