# Copyright: podnet.calico contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

# The namespace lab of podnet.calico (private to the collection). Plain Python, no Ansible import.
#
# _namespaces.py  bring the lab's namespaces, nodes and sshds up or down (used by the lab module)
