"""``[peers NAME]`` sections: the nodes that replicate stick tables (HAProxy's ``peers``).

A HAProxy section::

    peers LB
        peer lb1 10.22.2.110:34181
        peer lb2 10.22.1.175:34181

is written::

    [peers LB]
    peer lb1 = 10.22.2.110:34181
    peer lb2 = 10.22.1.175:34181

The local peer is the line named after ``localpeer`` in ``[global]`` (else the host name, as
HAProxy picks it); stack listens on its address and connects to the others.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from stack.config import ini
from stack.config.conditions import check_name, suggest
from stack.config.errors import Invalid, Problems
from stack.config.model import Origin, Peer, PeersSection
from stack.config.values import parse_endpoint
from stack.config.words import WordError, split_words

# HAProxy 2.6 peers-section keywords stack does not take yet, with what to do instead.
_NOT_YET = {
    "bind": "the local peer's 'peer' line gives the address stack listens on",
    "server": "write each node as 'peer NAME = ADDRESS:PORT'",
    "default-bind": "",
    "default-server": "",
    "table": "declare the table in its backend: 'stick-table = ... peers NAME'",
    "shards": "",
    "log": "",
    "disabled": "remove the 'peers' word from the stick-table lines instead",
    "enabled": "",
}


@dataclass
class PeersDraft:
    """One ``[peers]`` section as read, before the local peer is known."""

    name: str
    header: str
    line: int
    path: str
    peers: list[Peer] = field(default_factory=list)


def read_peers(name: str, section: ini.Section, path: str, problems: Problems) -> PeersDraft:
    """Check every key of one ``[peers NAME]`` section."""
    draft = PeersDraft(name, section.header, section.line, path)
    seen: set[str] = set()
    for entry in section.entries:
        if entry.key in seen:
            continue  # the scanner reported the duplicate key
        seen.add(entry.key)
        words = entry.key.split()
        origin = Origin(path, entry.line, section.header, entry.key)
        try:
            draft.peers.append(_peer(words, entry, origin))
        except (Invalid, WordError) as exc:
            problems.at(origin, str(exc))
    if not section.entries:
        problems.add(
            "a peers section needs 'peer NAME = ADDRESS:PORT' lines, one per node (this one "
            "included)",
            line=section.line,
            section=section.header,
        )
    return draft


def _peer(words: list[str], entry: ini.Entry, origin: Origin) -> Peer:
    keyword = words[0]
    if keyword != "peer":
        if keyword in _NOT_YET:
            hint = _NOT_YET[keyword]
            raise Invalid(
                f"'{keyword}' in a peers section is not supported yet"
                + (f": {hint}" if hint else "")
            )
        raise Invalid(
            f"unknown key '{entry.key}' in a peers section (it takes 'peer NAME = ADDRESS:PORT')"
            + suggest(keyword, ["peer"])
        )
    if len(words) != 2:
        raise Invalid("write 'peer NAME = ADDRESS:PORT': the key is 'peer' and the peer's name")
    name = words[1]
    check_name(name, "peer")
    lines = entry.occurrences()
    if entry.value is None or not lines:
        raise Invalid(f"peer '{name}' needs an address: 'peer {name} = ADDRESS:PORT'")
    if len(lines) > 1:
        raise Invalid(f"peer '{name}' takes one address")
    value = split_words(lines[0][1])
    if len(value) != 1:
        extra = " ".join(value[1:])
        raise Invalid(f"peer '{name}': options after the address ({extra}) are not supported yet")
    address = parse_endpoint(value[0], wildcard=True)
    return Peer(name, address, origin)


def resolve_peers(
    drafts: list[PeersDraft], localpeer: str, problems: Problems
) -> list[PeersSection]:
    """Each section with its local peer: ``localpeer`` from ``[global]``, else this host's
    name. A section without a line for the local peer is an error: HAProxy would drop it
    with a warning, and the tables naming it would silently stop replicating."""
    local = localpeer or socket.gethostname()
    sections = []
    for draft in drafts:
        if not draft.peers:
            continue
        names = [p.name for p in draft.peers]
        if local not in names:
            how = (
                f"'localpeer = {local}' in [global]"
                if localpeer
                else f"this host's name '{local}' (no 'localpeer' in [global])"
            )
            problems.add(
                f"no peer line is the local node: {how} names none of "
                f"{', '.join(names)}; set 'localpeer = NAME' in [global] to the line of this "
                "node" + suggest(local, names),
                line=draft.line,
                section=draft.header,
            )
            continue
        sections.append(
            PeersSection(
                draft.name,
                tuple(draft.peers),
                local,
                Origin(draft.path, draft.line, draft.header, ""),
            )
        )
    return sections
