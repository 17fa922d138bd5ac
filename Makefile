# Shortcuts for machines that have make; the scripts work without it.
.PHONY: demo test deps release deb systemd-test

demo:
	scripts/demo

test:
	scripts/test

deps:
	scripts/deps

release:
	swift build -c release

# The Debian package swift-supervisor, packaging/out/swift-supervisor_VERSION_ARCH.deb (see packaging/README.md).
deb:
	packaging/build-deb

# The real-systemd test of the package (root; see systemd/test.sh). Run `make deb` first.
systemd-test:
	systemd/test.sh
