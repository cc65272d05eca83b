"""Spec files in the sandbox: reading one (specquery), %autorelease (rpmautospec), --snapshot's
Release and the rpmbuild wrapper."""
