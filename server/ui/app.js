/* clawmesh dashboard: placeholder until the app lands */
