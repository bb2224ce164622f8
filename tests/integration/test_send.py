"""Results reach real peers: Orthanc routes a PET series to the node and gets SEG, SR and key
image back in the same study; a storescp destination that goes away (while the node is killed
and restarted) still gets everything, once.

The node and its peers run in a private network namespace (loopback only): storescp and Orthanc
cannot bind one address.
"""

from __future__ import annotations

import shutil

import pydicom
import pytest

from tests.peers import RESULT_MODALITIES, OrthancPeer, StorescpPeer, route_study_through
from tests.support import NODE_AE, free_port, outbound_rows, storescu, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("dcmtk")]



@pytest.fixture(scope="module")
def study(make_phantom):
    return make_phantom(31, matrix=128, slices=300)


@pytest.fixture(scope="module")
def second_study(make_phantom):
    return make_phantom(32, matrix=128, slices=300)


def test_orthanc_routes_pet_and_gets_seg_sr_and_key_image_in_the_study(
        netns, start_node, study, tmp_path) -> None:
    if shutil.which("Orthanc") is None:
        pytest.skip("Orthanc not installed (apt-get install orthanc)")
    node_port = free_port()
    orthanc = OrthancPeer(tmp_path / "orthanc", netns.enter(), (NODE_AE, node_port))
    try:
        orthanc.start()
        node, _ = route_study_through(orthanc, start_node, node_port, study.dicom_dir)
        series = orthanc.series_by_modality()
        studies = {s["ParentStudy"] for m in ("PT", *RESULT_MODALITIES) for s in series[m]}
        assert len(studies) == 1  # all in the patient's study
        for modality in RESULT_MODALITIES:
            assert len(series[modality]) == 1 and len(series[modality][0]["Instances"]) == 1
        rows = outbound_rows(node)
        assert len(rows) == 3
        assert {r.state.value for r in rows} == {"sent"}
        assert {r.destination_ae for r in rows} == {orthanc.ae_title}
    finally:
        orthanc.stop()


def test_destination_and_node_restarts_still_deliver_everything_once(
        netns, start_node, study, second_study, tmp_path) -> None:
    archive = StorescpPeer(tmp_path / "archive", netns.enter()).start()
    try:
        node = start_node(
            prefix=netns.enter(), worker={"count": 1, "poll_interval_s": 0.2},
            send={"to_caller": False, "retry_initial_s": 1, "retry_max_s": 2,
                  "poll_interval_s": 0.2, "max_attempts": 100, "lease_s": 3,
                  "destinations": [{"ae_title": archive.ae_title, "host": "127.0.0.1",
                                    "port": archive.port}]})
        assert storescu(node.port, study.dicom_dir, prefix=netns.enter()).returncode == 0
        wait_for(lambda: len(archive.received()) == 3, 240, "first results", node.log)

        archive.stop()
        assert storescu(node.port, second_study.dicom_dir, prefix=netns.enter()).returncode == 0
        wait_for(lambda: any(r.attempts >= 2 and r.state.value != "sent"
                             for r in outbound_rows(node)), 240,
                 "failed attempts while the archive is down", node.log)
        waiting = [r for r in outbound_rows(node) if r.state.value != "sent"]
        assert len(waiting) == 3
        assert all("no association" in (r.last_error or "") for r in waiting)

        node.kill()  # the node dies too while its results are undelivered
        archive.start()
        node.start()
        wait_for(lambda: all(r.state.value == "sent" for r in outbound_rows(node)), 60,
                 "everything sent after the restart", node.log)
        arrived = [str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID)
                   for p in archive.received()]
        expected = {r.sop_instance_uid for r in outbound_rows(node)}
        assert len(arrived) == 6 and set(arrived) == expected  # each object exactly once
    finally:
        archive.stop()
