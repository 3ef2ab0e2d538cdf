#pragma once
// A fake MSI delivery for PCI tests: remembers each vector's programmed message and every
// vector the device signalled, in order.

#include <stepvmm/pci/msix.hpp>

#include <map>
#include <optional>
#include <vector>

namespace stepvmm::test {

class RecordingMsiDelivery final : public pci::MsiDelivery {
public:
    void configure(std::uint16_t vector, std::optional<MsiMessage> message) override { routes[vector] = message; }
    void signal(std::uint16_t vector) override { signals.push_back(vector); }
    std::map<std::uint16_t, std::optional<MsiMessage>> routes;
    std::vector<std::uint16_t> signals;
};

}
