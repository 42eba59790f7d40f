"""The session every job builds: which settings a short job's local JVM gets, and which it leaves alone."""
from conf import load_config
from jobs.common import REQUIRED_SPARK_SETTINGS, session_settings

JAVA = "spark.driver.extraJavaOptions"


def test_a_short_local_job_gets_the_configured_java_options_and_a_long_one_does_not():
    config = load_config(None, ['spark.short_job_java_options=-XX:TieredStopAtLevel=1'])
    assert session_settings(config, short_job=True)[JAVA] == "-XX:TieredStopAtLevel=1"
    assert JAVA not in session_settings(config, short_job=False)


def test_java_options_set_in_the_config_win_and_none_are_added_off_a_local_master():
    own = load_config(None, ['spark.extra={spark.driver.extraJavaOptions: "-Xss4m"}'])
    assert session_settings(own, short_job=True)[JAVA] == "-Xss4m"
    assert JAVA not in session_settings(load_config("emr"), short_job=True)  # spark-submit's JVM on a cluster


def test_the_settings_results_depend_on_cannot_be_overridden():
    config = load_config(None, ['spark.extra={spark.sql.session.timeZone: "Europe/Paris"}'])
    assert session_settings(config)["spark.sql.session.timeZone"] == REQUIRED_SPARK_SETTINGS[
        "spark.sql.session.timeZone"] == "UTC"
