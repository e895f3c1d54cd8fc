"""SROS2 artefacts from the one graph declaration: an enclave per node, DDS-Security permissions that let each node
publish and subscribe only the topics ``configs/graph.yaml`` gives it, and a governance document. Pure Python.

``nav security OUT`` writes, for the graph of a robot (or ``--sim``):

- ``governance.xml``: join access control on, discovery, liveliness and every topic's data encrypted, read
  and write access controlled;
- ``enclaves/nav/<node>/permissions.xml``: one grant per node (subject ``CN=/nav/<node>``), its topics in
  DDS form (``/cmd_vel`` is ``rt/cmd_vel``), its own parameter services, ``rosout`` and ``parameter_events``;
  everything else denied;
- ``README.txt``: the commands that create the keystore and sign these documents.

Only the mux may publish to the base's ``/cmd_vel``; only the joystick node (and ``nav teleop``, which gets
an enclave of its own) may publish teleop commands and the e-stop.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nav.graph.declaration import Graph, NodeSpec
from nav.runtime.config import Topics

__all__ = ["ENCLAVE_ROOT", "Grant", "enclave", "governance_xml", "grants", "permissions_xml", "write_artefacts"]

ENCLAVE_ROOT = "/nav"
PERMISSIONS_XSD = "http://www.omg.org/spec/DDS-Security/20170801/omg_shared_ca_permissions.xsd"
GOVERNANCE_XSD = "http://www.omg.org/spec/DDS-Security/20170801/omg_shared_ca_governance.xsd"
VALIDITY_YEARS = 10
EVERY_NODE_PUBLISHES = ("/rosout", "/parameter_events")
"""What rclpy publishes for every node (its log and its parameter changes)."""
KEYBOARD_TELEOP = NodeSpec(
    "keyboard_teleop", "nav", "nav.nodes.keyboard_teleop", publishes=("cmd_teleop", "estop", "estop_reset")
)
"""``nav teleop``: a human's terminal is a participant too, with its own enclave."""


def enclave(name: str) -> str:
    return f"{ENCLAVE_ROOT}/{name}"


def dds_topic(ros_topic: str) -> str:
    """A ROS topic's DDS name (``/cmd_vel`` -> ``rt/cmd_vel``)."""
    return "rt/" + ros_topic.lstrip("/")


@dataclass(frozen=True)
class Grant:
    """What one enclave may do: DDS topic names (services as their request and reply topics)."""

    enclave: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def grants(graph: Graph, topics: Topics, sim: bool, extra: Sequence[NodeSpec] = (KEYBOARD_TELEOP,)) -> list[Grant]:
    """One grant per node the graph runs (with or without the simulator), plus ``extra``."""
    out = []
    for spec in [*graph.selected(sim), *extra]:
        node = spec.name
        # its parameter services: requests in, replies out (ros2 param of another node is not allowed)
        services_in, services_out = f"rq/{node}/*", f"rr/{node}/*"
        publish = {*(dds_topic(topics.resolve(t)) for t in (*spec.publishes, *EVERY_NODE_PUBLISHES)), services_out}
        subscribe = {*(dds_topic(topics.resolve(t)) for t in spec.subscribes), services_in}
        out.append(Grant(enclave(node), tuple(sorted(publish)), tuple(sorted(subscribe))))
    return out


def _root(schema: str) -> ET.Element:
    """A DDS-Security document's ``<dds>`` element, naming its schema."""
    xsi = "http://www.w3.org/2001/XMLSchema-instance"
    return ET.Element("dds", {"xmlns:xsi": xsi, "xsi:noNamespaceSchemaLocation": schema})


def _domains(parent: ET.Element, domain_id: int) -> None:
    ET.SubElement(ET.SubElement(parent, "domains"), "id").text = str(domain_id)


def _document(root: ET.Element) -> str:
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def permissions_xml(grant: Grant, domain_id: int, now: dt.datetime) -> str:
    """The DDS-Security permissions document of one enclave (default DENY)."""
    root = _root(PERMISSIONS_XSD)
    element = ET.SubElement(ET.SubElement(root, "permissions"), "grant", {"name": grant.enclave})
    ET.SubElement(element, "subject_name").text = f"CN={grant.enclave}"
    validity = ET.SubElement(element, "validity")
    start = now.replace(microsecond=0, tzinfo=None)
    ET.SubElement(validity, "not_before").text = start.isoformat()
    ET.SubElement(validity, "not_after").text = start.replace(year=start.year + VALIDITY_YEARS).isoformat()
    rule = ET.SubElement(element, "allow_rule")
    _domains(rule, domain_id)
    for kind, names in (("publish", grant.publish), ("subscribe", grant.subscribe)):
        topics = ET.SubElement(ET.SubElement(rule, kind), "topics")
        for name in names:
            ET.SubElement(topics, "topic").text = name
    ET.SubElement(element, "default").text = "DENY"
    return _document(root)


def governance_xml(domain_id: int) -> str:
    """Join access control, encrypted discovery, liveliness and data, access control on every topic."""
    root = _root(GOVERNANCE_XSD)
    rule = ET.SubElement(ET.SubElement(root, "domain_access_rules"), "domain_rule")
    _domains(rule, domain_id)
    for tag, text in (
        ("allow_unauthenticated_participants", "false"),
        ("enable_join_access_control", "true"),
        ("discovery_protection_kind", "ENCRYPT"),
        ("liveliness_protection_kind", "ENCRYPT"),
        ("rtps_protection_kind", "SIGN"),
    ):
        ET.SubElement(rule, tag).text = text
    topic_rule = ET.SubElement(ET.SubElement(rule, "topic_access_rules"), "topic_rule")
    for tag, text in (
        ("topic_expression", "*"),
        ("enable_discovery_protection", "true"),
        ("enable_liveliness_protection", "true"),
        ("enable_read_access_control", "true"),
        ("enable_write_access_control", "true"),
        ("metadata_protection_kind", "ENCRYPT"),
        ("data_protection_kind", "ENCRYPT"),
    ):
        ET.SubElement(topic_rule, tag).text = text
    return _document(root)


def _readme(enclaves: Iterable[str], domain_id: int) -> str:
    names = list(enclaves)
    lines = [
        "SROS2 artefacts of the nav graph (nav security). On the robot, with ROS 2 and sros2 installed:",
        "",
        "  ros2 security create_keystore KEYSTORE",
        *(f"  ros2 security create_enclave KEYSTORE {e}" for e in names),
        "",
        "then put these documents in place of the generated ones and sign them with the keystore's CA:",
        "",
        "  cp governance.xml KEYSTORE/enclaves/governance.xml",
        "  openssl smime -sign -text -in KEYSTORE/enclaves/governance.xml -out KEYSTORE/enclaves/governance.p7s \\",
        "    -signer KEYSTORE/public/permissions_ca.cert.pem -inkey KEYSTORE/private/permissions_ca.key.pem",
        *(
            f"  cp enclaves{e}/permissions.xml KEYSTORE/enclaves{e}/ && openssl smime -sign -text "
            f"-in KEYSTORE/enclaves{e}/permissions.xml -out KEYSTORE/enclaves{e}/permissions.p7s "
            "-signer KEYSTORE/public/permissions_ca.cert.pem -inkey KEYSTORE/private/permissions_ca.key.pem"
            for e in names
        ),
        "",
        f"and run the graph on ROS domain {domain_id} with security enforced:",
        "",
        "  nav bringup --keystore KEYSTORE      (every node with --enclave /nav/<node>)",
        "",
        "Each enclave may publish and subscribe only its node's topics of configs/graph.yaml; anything else is denied.",
    ]
    return "\n".join(lines) + "\n"


def write_artefacts(out: Path, graph: Graph, topics: Topics, sim: bool, domain_id: int, now: dt.datetime) -> list[Path]:
    """Write the governance, every enclave's permissions and the README under ``out``; the files written."""
    written = [out / "governance.xml"]
    out.mkdir(parents=True, exist_ok=True)
    written[0].write_text(governance_xml(domain_id), encoding="utf-8")
    all_grants = grants(graph, topics, sim)
    for grant in all_grants:
        path = out / "enclaves" / grant.enclave.lstrip("/") / "permissions.xml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(permissions_xml(grant, domain_id, now), encoding="utf-8")
        written.append(path)
    readme = out / "README.txt"
    readme.write_text(_readme((g.enclave for g in all_grants), domain_id), encoding="utf-8")
    return [*written, readme]
