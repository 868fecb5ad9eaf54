# shellcheck: the shell linter the scaffolding tests run over the deploy
# scripts of templates/ and examples/ (Debian package). Installs it when
# missing; exports nothing (the tests find it on PATH).
if ! command -v shellcheck >/dev/null 2>&1; then
	log "installing shellcheck"
	apt_install shellcheck
fi
