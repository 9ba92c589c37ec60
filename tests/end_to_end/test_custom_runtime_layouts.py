"""Custom runtimes laid out as AWS's own tutorials lay them out (lambda-spec §1, README "Node.js and other languages").

"Building a custom runtime" (the Lambda developer guide) ships a bash `bootstrap` that sources `function.sh` and runs
the `handler` function in it (_HANDLER `function.handler`), with curl as its Runtime API client. And a bootstrap whose
executable bit an unzip or a checkout dropped is still the runtime the user meant: the one-line refusal must name it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from e2e_support import run_cli, write_file

# The tutorial's bootstrap, as published (bash, curl), with `set -euo pipefail`: a wrong _HANDLER ends it at once.
TUTORIAL_BOOTSTRAP = """#!/bin/bash
set -euo pipefail

# Initialization - load function handler
source $LAMBDA_TASK_ROOT/"$(echo $_HANDLER | cut -d. -f1).sh"

# Processing
while true
do
  HEADERS="$(mktemp)"
  # Get an event. The HTTP request will block until one is received
  EVENT_DATA=$(curl -sS -LD "$HEADERS" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")

  # Extract request ID by scraping response headers received above
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)

  # Run the handler function from the script
  RESPONSE=$($(echo "$_HANDLER" | cut -d. -f2) "$EVENT_DATA")

  # Send the response
  curl -sS "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$REQUEST_ID/response"  -d "$RESPONSE"
done
"""

TUTORIAL_FUNCTION = """function handler () {
  EVENT_DATA=$1
  echo "$EVENT_DATA" 1>&2;
  RESPONSE="Echoing request: '$EVENT_DATA'"
  echo $RESPONSE
}
"""


@pytest.mark.skipif(shutil.which("curl") is None, reason="the tutorial's bootstrap needs curl")
def test_the_custom_runtime_tutorials_folder_runs_its_function_sh(code_dir: Path) -> None:
    """Its folder alone: _HANDLER was `handler.handler` (a .sh file was not taken for code), so the bootstrap sourced
    /var/task/handler.sh, which is not there, and every invoke failed with Runtime.ExitError."""
    write_file(code_dir / "bootstrap", TUTORIAL_BOOTSTRAP, executable=True)
    write_file(code_dir / "function.sh", TUTORIAL_FUNCTION)

    result = run_cli("invoke", str(code_dir), "-e", '{"text":"Hello"}')

    assert result.returncode == 0, result.stderr
    assert "Echoing request: '{\"text\":\"Hello\"}'" in result.stdout, (result.stdout, result.stderr)
    assert "handler.sh" not in result.stderr, result.stderr


def test_a_folder_whose_bootstrap_is_not_executable_says_so(code_dir: Path) -> None:
    """It was "no handler found (looked for handler.py, ...)", as if no runtime had been given."""
    bootstrap = write_file(code_dir / "bootstrap", "#!/bin/sh\nexit 0\n", executable=False)

    result = run_cli("invoke", str(code_dir))

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"lambdatui: {code_dir}: {bootstrap} is a custom runtime's bootstrap but is not executable (chmod +x)"]


@pytest.mark.parametrize("given", ["folder", "index.mjs"])
def test_a_node_handler_whose_bootstrap_is_not_executable_says_so(code_dir: Path, given: str) -> None:
    """It was told to write "an executable 'bootstrap' ... that execs Node's runtime interface client": the one it has."""
    bootstrap = write_file(code_dir / "bootstrap", '#!/bin/sh\nexec aws-lambda-ric "$_HANDLER"\n', executable=False)
    write_file(code_dir / "index.mjs", "export const handler = async (event) => event;\n")
    path = str(code_dir if given == "folder" else code_dir / "index.mjs")

    result = run_cli("invoke", path)

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"lambdatui: {path}: {bootstrap} is a custom runtime's bootstrap but is not executable (chmod +x)"]


def test_a_template_whose_bootstrap_is_not_executable_says_so(code_dir: Path) -> None:
    bootstrap = write_file(code_dir / "src" / "bootstrap", "#!/bin/sh\nexit 0\n", executable=False)
    template = write_file(code_dir / "template.yaml", json.dumps({
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {"Fn": {"Type": "AWS::Serverless::Function",
                             "Properties": {"Runtime": "provided.al2023", "Handler": "function.handler",
                                            "CodeUri": "src"}}}}))

    result = run_cli("invoke", str(template))

    assert result.returncode == 2
    assert f"{bootstrap} is a custom runtime's bootstrap but is not executable (chmod +x)" in result.stderr, \
        result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
