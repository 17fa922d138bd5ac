# Shortcuts for machines that have make; the scripts work without it.
.PHONY: demo test deps release

demo:
	scripts/demo

test:
	scripts/test

deps:
	scripts/deps

release:
	swift build -c release
