"""coursekit run: execute notebooks, save sanitized outputs, fail clearly."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from coursekit.notebooks import (
    SANITIZER,
    NotebookError,
    execute,
    load_sanitizer,
    main,
    sanitize,
)


def write_notebook(path: Path, *cells: nbformat.NotebookNode) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    nb.metadata.kernelspec = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


code = nbformat.v4.new_code_cell


def test_the_projects_sanitizer_loads_and_hides_ports() -> None:
    rules = load_sanitizer()
    assert rules
    nb = nbformat.v4.new_notebook()
    nb.cells = [code("")]
    nb.cells[0].outputs = [
        nbformat.v4.new_output("stream", text="at http://127.0.0.1:54321/docs\n"),
        nbformat.v4.new_output(
            "display_data",
            data={
                "text/html": '<a href="http://localhost:8000/">',
                "image/png": "iVBOR",
            },
        ),
    ]
    nb.metadata.language_info = {"name": "python", "version": "3.11.7"}
    sanitize(nb, rules)
    assert nb.cells[0].outputs[0].text == "at http://127.0.0.1:PORT/docs\n"
    assert nb.cells[0].outputs[1].data == {
        "text/html": '<a href="http://localhost:PORT/">',
        "image/png": "iVBOR",
    }
    assert nb.metadata.language_info == {"name": "python"}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("regex: a\n\nreplace: b\n", "followed at once"),
        ("regex: a\nreplace: b\nregex: c\n", "has no replace"),
        ("replace: b\n", "replace: without regex"),
        ("regex: a\nregex: b\nreplace: c\n", "two regex: lines"),
        ("regex:a\nreplace: b\n", "followed at once"),
    ],
)
def test_sanitizer_mistakes_that_nbval_would_ignore_silently_are_errors(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "rules.cfg"
    path.write_text(text)
    with pytest.raises(NotebookError, match=problem):
        load_sanitizer(path)


def test_comments_and_blank_lines_between_rules_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "rules.cfg"
    path.write_text(
        "# about\n\nregex: a+\nreplace: b\n\n# more\nregex: c\nreplace: d\n"
    )
    assert load_sanitizer(path) == [("a+", "b"), ("c", "d")]
    assert SANITIZER.name == "nbval-sanitize.cfg"


def test_execute_runs_in_the_notebooks_folder_and_allows_tagged_errors(
    tmp_path: Path,
) -> None:
    raising = code("raise ValueError('shown on purpose')")
    raising.metadata.tags = ["raises-exception"]
    path = write_notebook(
        tmp_path / "lesson.ipynb",
        code("import os\nprint(os.getcwd())"),
        raising,
        code("print('after')"),
    )
    nb = execute(path)
    assert nb.cells[0].outputs[0].text == f"{tmp_path}\n"
    assert nb.cells[1].outputs[0].ename == "ValueError"
    assert len(nb.cells[1].outputs[0].traceback) > 1
    assert nb.cells[2].outputs[0].text == "after\n"
    assert "execution" not in nb.cells[0].metadata  # no timings saved


def test_saved_tracebacks_keep_only_their_last_line(tmp_path: Path) -> None:
    raising = code("raise ValueError('shown on purpose')")
    raising.metadata.tags = ["raises-exception"]
    path = write_notebook(tmp_path / "raises.ipynb", raising)
    assert main([str(path)]) == 0
    [error] = nbformat.read(path, as_version=4).cells[0].outputs
    assert error.traceback == ["ValueError: shown on purpose"]


def test_run_saves_outputs_and_a_failure_names_the_cell_and_keeps_the_file(
    tmp_path: Path, capsys
) -> None:
    good = write_notebook(
        tmp_path / "good.ipynb", code("print('http://127.0.0.1:8000')")
    )
    bad = write_notebook(
        tmp_path / "bad.ipynb", code("x = 1"), code("1 / 0"), code("print('never')")
    )
    before = bad.read_bytes()
    assert main([str(good), str(bad)]) == 1
    out, err = capsys.readouterr()
    assert "good.ipynb ok" in out and "bad.ipynb FAILED (file left unchanged)" in out
    assert "cell 2 raised ZeroDivisionError: division by zero" in err
    assert "raises-exception" in err
    assert bad.read_bytes() == before
    saved = nbformat.read(good, as_version=4)
    assert saved.cells[0].outputs[0].text == "http://127.0.0.1:PORT\n"
    assert saved.cells[0].execution_count == 1


def test_a_cell_over_the_time_limit_fails_the_notebook(tmp_path: Path, capsys) -> None:
    slow = write_notebook(tmp_path / "slow.ipynb", code("import time; time.sleep(30)"))
    assert main([str(slow), "--timeout", "1"]) == 1
    assert "cell 1 ran longer than 1 s, the limit per cell" in capsys.readouterr().err


def test_a_kernel_that_dies_is_reported_with_the_cell(tmp_path: Path, capsys) -> None:
    dies = write_notebook(
        tmp_path / "dies.ipynb", code("x = 1"), code("import os; os._exit(3)")
    )
    assert main([str(dies)]) == 1
    assert "the kernel died while running cell 2" in capsys.readouterr().err


def test_a_file_that_is_not_a_notebook_is_reported(tmp_path: Path, capsys) -> None:
    junk = tmp_path / "junk.ipynb"
    junk.write_text("not json")
    assert main([str(junk)]) == 1
    assert "not a readable notebook" in capsys.readouterr().err
