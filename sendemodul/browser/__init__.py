"""The encryption module as one signed HTML file (docs/browser-module.md): the JavaScript sources beside this file,
built with esbuild by ``build.mjs``; :mod:`sendemodul.browser.release` builds, signs and verifies a release."""
