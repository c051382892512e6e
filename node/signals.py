"""Signals other packages connect to, so that `node` never imports them.

Receivers run synchronously inside the caller's transaction: a receiver that writes (the
federation outbox) writes in the same commit as the change it announces.
"""

from blinker import Namespace

_signals = Namespace()

# sender: the Session; kwargs: listing=Listing, change="published"|"updated"|"withdrawn"|...
listing_changed = _signals.signal("listing-changed")
# sender: the Session; kwargs: listing=Listing; sent before an existing listing's row is written,
# so a receiver can take its locks first (the federation's lock order: federation/pledges.py)
listing_changing = _signals.signal("listing-changing")
# sender: the Session; kwargs: match=Match, change="proposed"|"accepted"|"declined"|"cancelled"|...
match_changed = _signals.signal("match-changed")
# sender: the Session; kwargs: member=Member, sections=dict to add the package's data to
member_exporting = _signals.signal("member-exporting")
# sender: the Session; kwargs: member=Member; runs before the member's rows are deleted
member_erasing = _signals.signal("member-erasing")
# sender: the Flask app; sent by `mutualaid init` after the database is ready (make keys here)
node_initialised = _signals.signal("node-initialised")
# sender: the Session; kwargs: assembly=Assembly; a new assembly was convened (notify members)
assembly_scheduled = _signals.signal("assembly-scheduled")
# sender: the Session; kwargs: proposal=Proposal, assembly=Assembly
proposal_opened = _signals.signal("proposal-opened")
# sender: the Session; kwargs: decision=Decision, proposal=Proposal, assembly=Assembly; runs in the
# transaction that records the decision (delegates issue or recall mandates here)
decision_made = _signals.signal("decision-made")
