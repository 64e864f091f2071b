"""Template context for every page: the signed-in person's unread inbox count."""

from governance.models import Notification


def inbox(request) -> dict:
    """`inbox_unread`: how many notifications wait for the person (0 when signed out)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or getattr(user, "is_pipeline", False):
        return {"inbox_unread": 0}
    return {"inbox_unread": Notification.objects.filter(user=user, read_at__isnull=True).count()}
