"""A stand-in for `sacct` on the test cluster, which has no accounting daemon.

submitit asks `sacct -o JobID,State,NodeList --parsable2 -j ID[,ID...]` for the state of jobs, finished ones
included. `scontrol show job` knows every job for MinJobAge seconds (an hour on the test cluster), so this
answers from it, in sacct's --parsable2 format."""

from __future__ import annotations

import subprocess
import sys


def fields(argv: list[str]) -> tuple[list[str], list[str]]:
    columns, jobs = ["JobID", "State", "NodeList"], []
    for flag, value in zip(argv, argv[1:]):
        if flag in ("-o", "--format"):
            columns = value.split(",")
        elif flag in ("-j", "--jobs"):
            jobs += value.split(",")
    return columns, jobs


def records(job: str) -> list[dict]:
    out = subprocess.run(["scontrol", "-o", "show", "job", job.split("_")[0]], capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        info = dict(item.split("=", 1) for item in line.split() if "=" in item)
        task = info.get("ArrayTaskId")
        job_id = f"{info['ArrayJobId']}_{task}" if task and info.get("ArrayJobId") else info.get("JobId", "")
        rows.append(
            {
                "JobID": job_id,
                "State": info.get("JobState", "UNKNOWN"),
                "NodeList": info.get("NodeList", "None"),
                "JobName": info.get("JobName", ""),
            }
        )
    return rows


def main() -> None:
    columns, jobs = fields(sys.argv[1:])
    print("|".join(columns))
    seen = set()
    for job in jobs:
        for row in records(job):
            if row["JobID"] in seen:
                continue
            seen.add(row["JobID"])
            print("|".join(row.get(c, "") for c in columns))


if __name__ == "__main__":
    main()
