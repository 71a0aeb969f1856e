"""FilesDriver: Parquet and CSV (+gzip) under the original's path template."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.csv
import pytest

from d8a.errors import ConfigurationError
from d8a.testing.driver_conformance import SCHEMA, DriverConformance, DriverFactory, sample_rows
from d8a.warehouse import Driver, driver_from_url
from d8a.warehouse.path_template import NO_DATE, PathTemplate
from d8a.warehouse.segments import FilesDriver, read_files


class TestFilesDriverParquet(DriverConformance):
    deduplicates_across_batches = False

    @pytest.fixture
    def make_driver(self, tmp_path: Path) -> DriverFactory:
        return lambda: FilesDriver(tmp_path / "w", fsync=False)

    def read_back(self, driver: Driver, table: str) -> pa.Table:
        assert isinstance(driver, FilesDriver)
        return read_files(driver, table)


class TestFilesDriverCsv(TestFilesDriverParquet):
    @pytest.fixture
    def make_driver(self, tmp_path: Path) -> DriverFactory:
        return lambda: FilesDriver(tmp_path / "w", format="csv", fsync=False)


class TestFilesDriverCsvGzip(TestFilesDriverParquet):
    @pytest.fixture
    def make_driver(self, tmp_path: Path) -> DriverFactory:
        return lambda: FilesDriver(tmp_path / "w", format="csv", compression="gzip")


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_default_template_partitions_by_event_date(tmp_path: Path) -> None:
    driver = FilesDriver(tmp_path)
    driver.create_table("events", SCHEMA)
    driver.write("events", sample_rows(["a", "b", "c", "d"]))  # dated 2024-01-01/02 and none
    data = [f for f in _files(tmp_path) if not f.startswith("_d8a/")]
    pattern = re.compile(
        r"table=events/schema=[0-9a-f]{16}/y=(\S+)/m=(\S+)/d=(\S+)/[0-9a-f]{32}\.parquet"
    )
    dates = sorted(m.groups() for m in map(pattern.fullmatch, data) if m)
    assert len(dates) == len(data) == 3
    assert dates == sorted([("2024", "01", "01"), ("2024", "01", "02"), (NO_DATE,) * 3])
    driver.write("events", sample_rows(["a", "b", "c", "d"]))  # a retried batch: same files
    assert [f for f in _files(tmp_path) if not f.startswith("_d8a/")] == data
    driver.add_column("events", pa.field("extra", pa.string()))
    driver.write("events", sample_rows(["e"]))
    schemas = {f.split("/")[1] for f in _files(tmp_path) if f.startswith("table=")}
    assert len(schemas) == 2  # a new schema fingerprint after the column was added
    assert read_files(driver, "events").num_rows == 5


def test_custom_template_and_unpadded_variables(tmp_path: Path) -> None:
    template = "{{.Table}}/{{.Year}}-{{.Month}}-{{.Day}}/{{ .SegmentID }}.{{.Extension}}"
    driver = FilesDriver(tmp_path, format="csv", compression="gzip", path_template=template)
    driver.create_table("t", SCHEMA)
    driver.write("t", sample_rows(["a"]))
    [path] = [f for f in _files(tmp_path) if not f.startswith("_d8a/")]
    assert re.fullmatch(r"t/2024-1-1/[0-9a-f]{32}\.csv\.gz", path)


@pytest.mark.parametrize(
    "template",
    [
        "../{{.Table}}/{{.SegmentID}}.{{.Extension}}",
        "{{.Table}}/../../{{.SegmentID}}",
        "/abs/{{.Table}}/{{.SegmentID}}",
        "{{.Table}}//{{.SegmentID}}",
        "{{.Table}}/./{{.SegmentID}}",
        "{{.Table}}\\..\\{{.SegmentID}}",
        "{{.Table}}/{{.Nope}}/{{.SegmentID}}",
        "{{.Table}}/data.parquet",
        "{{.SegmentID}}.parquet",
        "{{.Table}}/{{if .X}}/{{.SegmentID}}",
    ],
)
def test_templates_that_escape_or_collide_are_rejected(tmp_path: Path, template: str) -> None:
    with pytest.raises(ConfigurationError):
        FilesDriver(tmp_path, path_template=template)


def test_rendered_paths_are_checked_again() -> None:
    template = PathTemplate("{{.Table}}/{{.Year}}/{{.SegmentID}}")
    assert str(template.render({"Table": "a/../b", "Year": "2024", "SegmentID": "x"})) == (
        "a____b/2024/x"
    )
    with pytest.raises(ConfigurationError):
        template.render({"Table": "t", "Year": "..", "SegmentID": "x"})


def test_csv_form(tmp_path: Path) -> None:
    driver = FilesDriver(tmp_path, format="csv", compression="gzip", fsync=False)
    driver.create_table("events", SCHEMA)
    driver.write("events", sample_rows(["a", "b", "c"]).slice(0, 1))
    [path] = driver.files("events")
    assert path.name.endswith(".csv.gz")
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    assert lines[0] == '"id","name","count","ratio","active","timestamp_utc","date_utc","params"'
    fields = lines[1].split(",", 7)
    assert fields[:7] == [
        '"a"',
        '"zażółć \'0\' ""quoted"""',
        str(2**53 + 1),
        "0.1",
        "true",
        '"2024-01-01T12:30:15Z"',
        "2024-01-01",
    ]
    params = pyarrow.csv.read_csv(path).column("params")[0].as_py()
    assert json.loads(params) == [
        {"name": "page", "value_string": "/a?b=c", "value_number": None},
        {"name": "value", "value_string": None, "value_number": 1.5},
    ]


def test_failed_write_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    driver = FilesDriver(tmp_path, format="csv")
    driver.create_table("events", SCHEMA)

    def boom(data: object, path: str) -> None:
        Path(path).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(pyarrow.csv, "write_csv", boom)
    with pytest.raises(OSError, match="disk full"):
        driver.write("events", sample_rows(["a"]))
    assert [f for f in _files(tmp_path) if not f.startswith("_d8a/")] == []


def test_driver_from_url_files_forms(tmp_path: Path) -> None:
    csv = driver_from_url(f"csv:///{tmp_path}")
    assert isinstance(csv, FilesDriver) and (csv.format, csv.extension) == ("csv", "csv")
    gz = driver_from_url(f"csv:///{tmp_path}?compression=gzip")
    assert isinstance(gz, FilesDriver) and gz.extension == "csv.gz"
    files = driver_from_url(f"files:///{tmp_path}?path_template={{{{.Table}}}}/{{{{.SegmentID}}}}")
    assert isinstance(files, FilesDriver) and files.format == "parquet"
    assert files.template.template == "{{.Table}}/{{.SegmentID}}"
    for bad in (
        "csv://",
        f"csv:///{tmp_path}?compression=zstd",
        f"files:///{tmp_path}?format=xml",
        f"files:///{tmp_path}?colour=red",
        f"files:///{tmp_path}?path_template=../{{{{.Table}}}}/{{{{.SegmentID}}}}",
    ):
        with pytest.raises(ConfigurationError):
            driver_from_url(bad)
