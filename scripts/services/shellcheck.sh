# Linters of the scaffolding tests (templates/): shellcheck over the deploy
# scripts (Debian package, installed when missing) and cfn-lint over the SAM
# templates when it is installed (pip install cfn-lint); its absence is
# logged here, as the tests run without it. Exports nothing: the tests find
# both on PATH.
if ! command -v shellcheck >/dev/null 2>&1; then
	log "installing shellcheck"
	apt_install shellcheck
fi
if command -v cfn-lint >/dev/null 2>&1; then
	log "cfn-lint: $(command -v cfn-lint)"
else
	log "cfn-lint not found: the SAM templates are checked by doctor and not by cfn-lint"
fi
