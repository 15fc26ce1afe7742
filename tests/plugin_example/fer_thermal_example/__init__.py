"""Example fer-fusion branch plug-in: a simulated thermal-camera emotion classifier."""
