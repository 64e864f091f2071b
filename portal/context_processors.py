"""Template context for every page: how many items wait on the person's "My work" page."""

from portal import selectors


def my_work_count(request) -> dict:
    """`my_work_count`: the total of "My work" (0, with no query, when signed out)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"my_work_count": 0}
    return {"my_work_count": selectors.my_work_count(user)}
