#!/usr/bin/env node
import '../dist/murder.mjs'
