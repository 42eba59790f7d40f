"""Deploy the built artifacts to S3 and run the pipeline on EMR, with injected boto3 clients (S3, EMR, Glue, SNS):
the same code talks to AWS or to a local endpoint.

`deploy` checks every built file against the manifest's sha256 first, then uploads the build folder to
`s3://<bucket>/<prefix>/<version>/` (server-side encrypted) and the packed venv once per requirements digest.
`run` creates the security configuration (emr/security.py) and a transient cluster that names it (or takes an
existing one), adds the pipeline's steps in order (one request per step when each runs under its own role),
waits for each with boto3's `step_complete` waiter, and on a failure prints the step's reason and where its
logs are. A transient cluster is terminated when the run ends, however it ends;
its auto-termination policy ends it anyway if this process dies.
"""
from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import ClientError, WaiterError

from conf import Config, ConfigError
from emr import cluster, layout, package, security
from emr.athena import TABLES, projection_start
from emr.glue import register_tables
from emr.layout import S3Layout


class DeployError(RuntimeError):
    """The artifacts cannot be deployed (missing build, missing environment)."""


@dataclasses.dataclass(frozen=True)
class Submission:
    cluster_id: str
    step_ids: tuple[str, ...]
    step_names: tuple[str, ...]
    transient: bool  # a cluster this run created, and so ends


class EmrPipeline:
    def __init__(self, config: Config, s3=None, emr=None, glue=None, sns=None, out: TextIO | None = None):
        self.config, self.s3, self.emr, self.glue, self.sns = config, s3, emr, glue, sns
        self.out = out or sys.stdout

    def _say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def layout(self, manifest: dict) -> S3Layout:
        if not self.config.emr.bucket:
            raise ConfigError("emr.bucket is not set: the S3 bucket for the artifacts")
        return S3Layout(self.config.emr.bucket, self.config.emr.prefix, manifest["version"], manifest["env_digest"])

    # --- deploy ---------------------------------------------------------------------------------------------
    def _exists(self, bucket: str, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=bucket, Key=key)
            return True
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def _upload(self, source: Path, bucket: str, key: str) -> None:
        self.s3.upload_file(str(source), bucket, key, ExtraArgs=cluster.encryption_args(self.config.emr))

    def deploy(self, build_dir: Path) -> S3Layout:
        """Upload the build folder, once every file is checked against the manifest's sha256 (nothing is uploaded
        when one differs); the manifest goes last, so a listed version is a complete one."""
        manifest = package.read_manifest(build_dir)
        problems = package.verify(build_dir, manifest)
        if problems:
            raise DeployError(f"{build_dir} is not the build its manifest describes: " + "; ".join(problems)
                              + ": run `fraud emr build` again")
        s3 = self.layout(manifest)
        env_local = build_dir / layout.ENVIRONMENT
        if self._exists(s3.bucket, s3.env_key()):
            self._say(f"environment {s3.env_uri()} already there")
        elif env_local.exists():
            wanted = manifest.get("environment_sha256")
            if wanted and package.sha256(env_local) != wanted:
                raise DeployError(f"{env_local}: sha256 differs from the manifest's: run `fraud emr build` again")
            self._upload(env_local, s3.bucket, s3.env_key())
            self._say(f"uploaded {s3.env_uri()}")
        else:
            raise DeployError(f"no packed environment for requirements digest {s3.env_digest} in {build_dir} "
                              f"or at {s3.env_uri()}: run `fraud emr build` without --no-env")
        for relative in manifest["files"]:
            self._upload(build_dir / relative, s3.bucket, s3.key(relative))
        self._upload(build_dir / layout.MANIFEST, s3.bucket, s3.key(layout.MANIFEST))
        self._say(f"deployed {len(manifest['files']) + 1} files to {s3.root()}")
        return s3

    # --- run ------------------------------------------------------------------------------------------------
    def submit(self, s3: S3Layout, config_name: str, overrides: tuple[str, ...] = (),
               cluster_id: str | None = None) -> Submission:
        request = cluster.plan(self.config, s3, config_name, overrides, cluster_id)
        transient = request["run_job_flow"] is not None
        if transient:
            wanted = request["security_configuration"]
            created = security.ensure(self.emr, wanted)
            self._say(f"security configuration {wanted['Name']}: {'created' if created else 'already there'}")
            cluster_id = self.emr.run_job_flow(**request["run_job_flow"])["JobFlowId"]
            self._say(f"created cluster {cluster_id} ({self.config.emr.release_label})")
        else:
            cluster_id = request["cluster_id"]
        if request["step_roles"]:  # ExecutionRoleArn is one per request
            step_ids = [self.emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=[step], ExecutionRoleArn=role)
                        ["StepIds"][0] for step, role in zip(request["steps"], request["step_roles"])]
        else:
            step_ids = self.emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=request["steps"])["StepIds"]
        names = tuple(step["Name"] for step in request["steps"])
        for step_id, name in zip(step_ids, names):
            self._say(f"added step {step_id} {name}")
        return Submission(cluster_id, tuple(step_ids), names, transient)

    def wait(self, run: Submission) -> int:
        """Wait for each step in order; 0 when all completed, 1 at the first that did not (reason printed)."""
        emr_conf = self.config.emr
        waiter = self.emr.get_waiter("step_complete")
        attempts = max(1, math.ceil(emr_conf.max_wait_seconds / emr_conf.poll_seconds))
        for step_id, name in zip(run.step_ids, run.step_names):
            try:
                waiter.wait(ClusterId=run.cluster_id, StepId=step_id,
                            WaiterConfig={"Delay": emr_conf.poll_seconds, "MaxAttempts": attempts})
            except WaiterError:
                self._report_failure(run.cluster_id, step_id, name)
                return 1
            self._say(f"step {step_id} {name}: COMPLETED")
        return 0

    def _report_failure(self, cluster_id: str, step_id: str, name: str) -> None:
        step = self.emr.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"]
        status = step["Status"]
        details = status.get("FailureDetails") or {}
        reason = (details.get("Reason") or status.get("StateChangeReason", {}).get("Message")
                  or ("still running when the wait ended" if status["State"] in ("PENDING", "RUNNING")
                      else "no reason given"))
        self._say(f"step {step_id} {name}: {status['State']}: {reason}")
        if details.get("Message"):
            self._say(f"  message: {details['Message']}")
        for line in self.log_locations(cluster_id, step_id, details.get("LogFile")):
            self._say(f"  {line}")

    def log_locations(self, cluster_id: str, step_id: str, log_file: str | None) -> list[str]:
        log_uri = self.emr.describe_cluster(ClusterId=cluster_id)["Cluster"].get("LogUri")
        if not log_uri:
            return [f"step logs: on the primary node, /mnt/var/log/hadoop/steps/{step_id}/ (the cluster has no LogUri)"]
        root = f"{log_uri.rstrip('/')}/{cluster_id}"
        return [f"step log: {log_file}" if log_file else f"step logs: {root}/steps/{step_id}/ (stderr.gz, controller.gz)",
                f"Spark driver and executor logs: {root}/containers/"]

    def run(self, s3: S3Layout, config_name: str, overrides: tuple[str, ...] = (),
            cluster_id: str | None = None, keep_cluster: bool = False) -> int:
        submission = self.submit(s3, config_name, overrides, cluster_id)
        code = 1
        try:
            code = self.wait(submission)
        finally:
            if submission.transient and not keep_cluster:
                self.emr.terminate_job_flows(JobFlowIds=[submission.cluster_id])
                self._say(f"terminating cluster {submission.cluster_id}")
            self._notify(submission, code)
        self._say("pipeline " + ("succeeded" if code == 0 else "failed") + f" on {submission.cluster_id}")
        return code

    def _notify(self, run: Submission, code: int) -> None:
        topic = self.config.scoring.sns_topic_arn
        if not (self.sns and topic):
            return
        steps = self.emr.list_steps(ClusterId=run.cluster_id, StepIds=list(run.step_ids))["Steps"]
        states = {s["Id"]: s["Status"]["State"] for s in steps}
        lines = [f"{name} ({step_id}): {states.get(step_id, 'UNKNOWN')}"
                 for step_id, name in zip(run.step_ids, run.step_names)]
        outcome = "succeeded" if code == 0 else "failed"
        self.sns.publish(TopicArn=topic, Subject=f"Fraud pipeline on EMR {outcome} ({run.cluster_id})"[:100],
                         Message="\n".join(lines))

    # --- publish --------------------------------------------------------------------------------------------
    def publish(self) -> dict[str, Any]:
        """Register the Athena tables in the Glue Data Catalog (from this machine)."""
        start = projection_start(self.config.emr.projection_start, None)  # no listing of the tables from here
        done = register_tables(self.glue, self.config.emr.glue_database, self.config.paths,
                               starts={name: start for name in TABLES})
        for name, action in done.items():
            self._say(f"{self.config.emr.glue_database}.{name}: {action}")
        return done
