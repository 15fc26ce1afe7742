"""Shared pieces every branch uses: label spaces, the predictions artifact, calibration, metrics."""
