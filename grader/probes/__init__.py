"""Vantage points and probe results (the layer below grading; it never imports grading modules)."""

from grader.probes.base import ProbePolicy, Vantage
from grader.probes.matrix import Cell, Matrix
from grader.probes.observed import DnsResult, HostnamesResult, HttpResult, TcpResult

__all__ = ["Cell", "DnsResult", "HostnamesResult", "HttpResult", "Matrix", "ProbePolicy", "TcpResult", "Vantage"]
