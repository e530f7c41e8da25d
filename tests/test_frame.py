"""The report frame: one record (provenance, NaN policy, valid JSON), one folder lock, one interrupt path."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import featviz
from featviz import files
from featviz.reports import frame


def test_values_that_are_not_finite_are_written_as_null(tmp_path) -> None:
    record = {"a": float("nan"), "b": [1.5, float("inf"), {"c": -float("inf")}], "d": (2.0, "x")}
    path = frame.write_record(record, tmp_path / "r.json")
    assert json.loads(path.read_text()) == {"a": None, "b": [1.5, None, {"c": None}], "d": [2.0, "x"]}
    assert frame.number(float("nan")) is None and frame.number(1 / 3) == round(1 / 3, 5)
    assert files.finite(None) is None and files.finite(math.inf) is None and files.finite(2.0) == 2.0


def test_provenance_names_versions_model_settings_and_time() -> None:
    block = frame.provenance("efficientnet_lite0", {"steps": 3, "lr": float("nan")}, "abc")
    assert block["featviz"] == featviz.__version__ and block["torch"] == torch.__version__
    assert block["model"] == "efficientnet_lite0" and block["model_fingerprint"] == "abc"
    assert block["settings"] == {"steps": 3, "lr": None} and block["written"][:2] == "20"


def test_every_report_record_carries_the_same_provenance_block(tiny, tmp_path) -> None:
    explanation = featviz.explain(tiny, torch.rand(3, 32, 32), ["conv3"], render=False, progress=False)
    explanation.save(tmp_path / "e")
    record = json.loads((tmp_path / "e" / "explanation.json").read_text())
    keys = set(frame.provenance("m", {}))
    assert set(record["provenance"]) == keys and record["provenance"]["model_fingerprint"]
    assert set(explanation.to_dict()["provenance"]) == keys


def test_a_folder_claimed_by_another_process_is_refused_naming_it(tmp_path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from featviz.reports import frame
                with frame.claim({str(tmp_path / "out")!r}, "a test"):
                    print("held", flush=True)
                    sys.stdin.read()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with (
            pytest.raises(featviz.FolderBusyError, match=f"pid {holder.pid}"),
            frame.claim(tmp_path / "out", "x"),
        ):
            pass
    finally:
        holder.communicate("")
    with frame.claim(tmp_path / "out", "x"):  # released with the process
        pass


def test_claims_nest_within_a_process(tmp_path) -> None:
    with frame.claim(tmp_path / "out", "a command"), frame.claim(Path(tmp_path / "out"), "its save"):
        assert (tmp_path / "out" / frame.LOCK).is_file()


def test_ctrl_c_says_what_is_kept_in_one_line_and_gives_130(capsys) -> None:
    assert frame.interrupted("rerun to resume", after="after 2 of 5 steps") == 130
    assert capsys.readouterr().err == "featviz: interrupted after 2 of 5 steps; rerun to resume\n"


def test_notebook_views_show_strings_as_text() -> None:
    from featviz.reports import pagekit

    cell = pagekit.element("td", "<b>x</b>", pagekit.element("i", "ok"), title='a"b', class_="c")
    assert cell == '<td title="a&quot;b" class="c">&lt;b&gt;x&lt;/b&gt;<i>ok</i></td>'


def test_every_report_has_a_notebook_view(tiny) -> None:
    diagnosis = featviz.diagnose(tiny, torch.rand(8, 3, 32, 32), render=False, progress=False)
    view = diagnosis._repr_html_()
    assert "<table>" in view and all(f"<td>{layer.layer}</td>" in view for layer in diagnosis.layers)
    explanation = featviz.explain(tiny, torch.rand(3, 32, 32), ["conv3"], render=False, progress=False)
    assert "<table>" in explanation._repr_html_() and "(not rendered)" in explanation._repr_html_()


def test_a_run_that_writes_nothing_leaves_no_folder(tmp_path) -> None:
    with pytest.raises(featviz.InvalidArgumentError), frame.claim(tmp_path / "new", "x"):
        raise featviz.InvalidArgumentError("a check failed")
    assert not (tmp_path / "new").exists()
    (tmp_path / "old").mkdir()
    with frame.claim(tmp_path / "old", "x"):
        pass
    assert (tmp_path / "old").is_dir()  # the user's own folder stays
