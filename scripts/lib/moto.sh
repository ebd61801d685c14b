# Shared by scripts/test and scripts/quickstart (source it): makes moto's server
# (PyPI `moto[server]`) available, installing it when missing — for the user, or into a
# virtual environment under target/ where the system Python refuses user installs.
# Sets MOTO_PYTHON to a Python that imports boto3 (moto brings it).

ensure_moto() {
  if command -v moto_server >/dev/null; then
    MOTO_PYTHON=python3
    local shebang
    shebang=$(head -1 "$(command -v moto_server)" 2>/dev/null | sed -n 's/^#!//p')
    if [[ -n "$shebang" && -x "${shebang%% *}" ]] && "${shebang%% *}" -c 'import boto3' 2>/dev/null; then
      MOTO_PYTHON="${shebang%% *}"
    fi
    export MOTO_PYTHON
    return 0
  fi
  echo "installing moto[server] (AWS emulator for the tests and the demo)" >&2
  if python3 -m pip install --quiet --user 'moto[server]>=5.1' 2>/dev/null; then
    PATH="$(python3 -m site --user-base)/bin:$PATH"
    command -v pyenv >/dev/null && pyenv rehash || true
    MOTO_PYTHON=python3
  else
    python3 -m venv target/moto-venv
    target/moto-venv/bin/pip install --quiet 'moto[server]>=5.1'
    PATH="$PWD/target/moto-venv/bin:$PATH"
    MOTO_PYTHON="$PWD/target/moto-venv/bin/python"
  fi
  export PATH MOTO_PYTHON
  command -v moto_server >/dev/null || { echo "error: moto_server is still not on PATH after installing moto[server]" >&2; return 2; }
}

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
