# -*- coding: utf-8 -*-
# Copyright (c) ipsecfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the ipsec_ha module's engine in-process on the controller."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ipsecfleet.routeros.plugins.module_utils.apply.engine import HA_SECTIONS
from ansible_collections.ipsecfleet.routeros.plugins.plugin_utils.engine_action import EngineAction


class ActionModule(EngineAction):
    SECTIONS = HA_SECTIONS
    FEATURE = "ha"
