package api

import "github.com/prometheus/client_golang/prometheus"

// MustRegister adds collectors of other parts of the server (the
// notification dispatcher's counters) to the metrics registry.
func (m *Metrics) MustRegister(cs ...prometheus.Collector) {
	m.registry.MustRegister(cs...)
}
