# lit configuration for the tirc suites: test/lit/<module>/<pass>.tir.
import os
import lit.formats

config.name = "tirc"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".tir"]
config.excludes = ["Inputs"]
config.test_source_root = os.path.dirname(__file__)

bin_dir = lit_config.params.get("tirc_bin_dir")
tools_dir = lit_config.params.get("llvm_tools_dir", "/usr/lib/llvm-14/bin")
if not bin_dir:
    lit_config.fatal("pass --param tirc_bin_dir=<dir holding tirc>")
bin_dir = os.path.abspath(bin_dir)
path = os.pathsep.join([bin_dir, tools_dir, config.environment.get("PATH", os.environ["PATH"])])
config.environment["PATH"] = path
config.substitutions.append(("%python", "python3"))
config.substitutions.append(
    ("%exitcode", "python3 " + os.path.join(os.path.dirname(__file__), "Inputs", "exitcode.py")))
