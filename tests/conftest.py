"""The test suite's root. Test files are laid out like the library (one file per module, a
folder per package: tests/counterfactuals/ for xaitutor/counterfactuals/); pytest puts
this folder on sys.path, so every test file can import the shared helpers beside it
(tolerances, frozen_models, hub_helpers)."""
