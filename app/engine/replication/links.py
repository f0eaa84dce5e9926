"""What each position link means right now: a live copy, a copy still being opened, or one closed outside.

A link ties a client position to the master position of the same (symbol, hold_side). Before the plan is
built, every link is judged against the facts just read (pure):
- written before its open and the client holds the position: the open went through (confirm it);
- acknowledged, the master still holds, the client does not: the client's own stop, TP, a liquidation or a
  manual close ended it. The copy is not re-opened for that master position (unless the client allows it);
- ended earlier: still not re-opened, until the master opens a new position (another cTime).
"""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from app.engine.replication.draft import ClientView, Key, PlanDraft
from app.engine.replication.plan import LinkChange
from app.engine.replication.state import LINK_CONFIRM, LINK_DELETE, LINK_END, Link


def closed_outside_reason(symbol: str, side: str, ended_ms: int) -> str:
    """The operator's text for a copy that was closed outside the copier."""
    at = datetime.fromtimestamp(ended_ms / 1000, UTC).strftime("%H:%M UTC")
    return f"{symbol} {side} closed outside the copier at {at}; not re-opened"


def judge_links(view: ClientView, draft: PlanDraft) -> ClientView:
    """Record link changes the facts call for; return the view with only the links that still steer copies."""
    kept: dict[Key, Link] = {}
    for key, link in sorted(view.links_by_key.items()):
        master = view.master_by_key.get(key)
        if master is None:
            kept[key] = link  # the master closed: plan_orphans closes the copy and deletes the link
            continue
        held = key in view.client_by_key
        new_master_position = (
            link.master_opened_ms is not None and master.c_time is not None and master.c_time != link.master_opened_ms
        )
        if link.ended_ms is not None:
            if new_master_position or view.client.settings.reenter_after_external_close:
                draft.link(LinkChange(LINK_DELETE, *key))  # copy it again, as a new copy
                continue
            draft.not_copied.add(key)
            draft.skip(*key, closed_outside_reason(*key, link.ended_ms))
            continue
        if link.opened and not held:
            if view.client.settings.reenter_after_external_close:
                draft.link(LinkChange(LINK_DELETE, *key))
                continue
            now = view.client.now_ms
            draft.link(LinkChange(LINK_END, *key, ended_ms=now))
            draft.not_copied.add(key)
            draft.skip(*key, closed_outside_reason(*key, now))
            continue
        if not link.opened and held:
            draft.link(LinkChange(LINK_CONFIRM, *key))
            link = replace(link, opened=True)
        kept[key] = link
    return replace(view, links_by_key=kept)
