#!/bin/bash
# The README's first command (`make demo`): boot a lab desktop, run
# playbooks/gaming-box.yml on it, then start the demo game through the lab's
# Steam stand-in and show where it landed and what it could reach.
set -euo pipefail

cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$PWD/ansible.cfg"
inventory=lab/state/inventory.yml
vars=lab/gaming-box-vars.yml

echo "==> booting a lab desktop (the first run builds the guest image)"
python -m lab up -n 1

echo "==> ansible-playbook playbooks/gaming-box.yml on gbox-1"
ansible-playbook -i "$inventory" --limit gbox-1 -e "@$vars" playbooks/gaming-box.yml

echo "==> starting the demo game through the launcher with its launch option"
ansible-playbook -i "$inventory" --limit gbox-1 -e "@$vars" lab/playbooks/verify.yml

cat <<'DONE'

==> done. The desktop keeps running:
    python -m lab ssh gbox-1 -- cat /home/player/.local/share/gaming-box/launch-options.txt
    make lab-down      # stop it
DONE
