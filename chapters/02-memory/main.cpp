// Chapter 02 — guest memory.
//
// New here: a guest-physical memory map with RAM on both sides of a device hole, several
// memory slots, host backings from 4 KiB pages to 1 GiB hugetlb pages, long mode set up by
// the VMM (GDT + identity page tables), KVM's dirty-page log, and a read-only slot whose
// writes come back to us as MMIO exits. The guest (guest/ch02-memory) exercises each one.

#include <ch02_memory_abi.h>
#include <stepvmm/app/log.hpp>
#include <stepvmm/app/command_line.hpp>
#include <stepvmm/app/main_guard.hpp>
#include <stepvmm/guest/guest_runner.hpp>
#include <stepvmm/kvm/cpuid.hpp>
#include <stepvmm/kvm/kvm.hpp>
#include <stepvmm/kvm/vcpu.hpp>
#include <stepvmm/kvm/vm.hpp>
#include <stepvmm/mem/guest_memory.hpp>

#include <algorithm>
#include <chrono>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/mman.h>

using namespace stepvmm;
using Clock = std::chrono::steady_clock;

// A 64 KiB ROM just below 4 GiB, where a PC's firmware flash sits.
static constexpr std::uint64_t rom_address = four_gib - 0x10000;
static constexpr std::uint64_t rom_size = 0x10000;
static constexpr std::size_t high_ram = 1; // region index of the RAM above the hole

struct Options {
    std::string guest = STEPVMM_DEFAULT_GUEST;
    std::string mem = "1G";
    std::string hole_start = "512M";
    std::string backing = "4k";
    std::string guest_pages = "2m";
    std::string touch;
    unsigned dirty_pages = 8;
    unsigned timeout = 60;
    bool verbose = false;
};

// Pages spread over high RAM, none adjacent, so a wrong bit in the log cannot hide.
static std::vector<std::uint64_t> choose_dirty_targets(const RamRange& high, unsigned count)
{
    std::vector<std::uint64_t> pages;
    std::uint64_t stride = (high.size / count) & ~std::uint64_t { 0xfff };
    for (unsigned i = 0; i < count; ++i)
        pages.push_back(high.guest_physical_address + i * stride + (i % 3) * 0x1000);
    return pages;
}

static double mib_per_second(std::uint64_t bytes, Clock::duration elapsed)
{
    return static_cast<double>(bytes) / (1 << 20) / std::chrono::duration<double>(elapsed).count();
}

static int run(const Options& options)
{
    auto backing = parse_backing(options.backing);
    if (!backing)
        throw UserError(fmt::format("unknown backing '{}' (use 4k, thp, hugetlb-2m or hugetlb-1g)", options.backing));
    auto layout = pc_memory_layout(parse_size(options.mem), parse_size(options.hole_start));
    if (layout.size() <= high_ram)
        throw UserError("this chapter needs RAM above the hole: make --mem larger than --hole-start");
    if (options.dirty_pages == 0 || options.dirty_pages > CH02_MAX_DIRTY_PAGES)
        throw UserError(fmt::format("--dirty-pages must be 1..{}", CH02_MAX_DIRTY_PAGES));
    // Each target sits up to 2 pages into its own stride; 4 pages per stride keeps them apart.
    if (layout[high_ram].size / options.dirty_pages < 4 * 4096)
        throw UserError(fmt::format("--dirty-pages {} needs at least {} of RAM above the hole", options.dirty_pages,
            format_size(options.dirty_pages * 4ULL * 4096)));
    std::uint64_t touch_bytes = options.touch.empty() ? layout[high_ram].size : parse_size(options.touch);
    if (touch_bytes > layout[high_ram].size)
        throw UserError("--touch is larger than the RAM above the hole");

    Kvm kvm;
    fmt::print("KVM: {}\n", describe(Kvm::detect_flavor()));

    // Set-up: allocating the backing and registering the slots is what --backing changes.
    auto setup_start = Clock::now();
    GuestMemory memory(layout, *backing);
    Vm vm(kvm);
    memory.install(vm);
    if (vm.check_extension(KVM_CAP_READONLY_MEM) <= 0)
        throw UserError("this KVM cannot make read-only memory slots (KVM_CAP_READONLY_MEM)");
    Mapping rom = Mapping::map(rom_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, "ROM");
    std::copy_n(CH02_ROM_SIGNATURE, sizeof(CH02_ROM_SIGNATURE), rom.data());
    vm.set_memory_slot({ .slot = static_cast<std::uint32_t>(layout.size()), .guest_physical_address = rom_address,
        .size = rom_size, .host_address = rom.data(), .access = SlotAccess::ReadOnly });
    auto setup_time = Clock::now() - setup_start;

    for (const GuestRegion& region : memory.regions())
        fmt::print("slot {}: {:<8} GPA [{:#011x}, {:#011x}) {:>9}  host {}  backing {}\n", region.slot.slot, region.range.name,
            region.range.guest_physical_address, region.range.end(), format_size(region.range.size),
            fmt::ptr(region.host.data()), backing_name(*backing));
    fmt::print("slot {}: ROM      GPA [{:#011x}, {:#011x}) {:>9}  read-only\n", layout.size(), rom_address, rom_address + rom_size, format_size(rom_size));

    auto targets = choose_dirty_targets(layout[high_ram], options.dirty_pages);
    guest::GuestParams params {};
    params[CH02_PARAM_ROM_ADDRESS] = rom_address;
    params[CH02_PARAM_ROM_SIZE] = rom_size;
    params[CH02_PARAM_TOUCH_ADDRESS] = layout[high_ram].guest_physical_address;
    params[CH02_PARAM_TOUCH_BYTES] = touch_bytes;
    params[CH02_PARAM_DIRTY_COUNT] = targets.size();
    std::copy(targets.begin(), targets.end(), params.begin() + CH02_PARAM_DIRTY_FIRST);

    // The guest may use 1 GiB pages only if its CPUID says so (CPUID.80000001H:EDX.Page1GB).
    Vcpu vcpu = vm.create_vcpu(0);
    auto cpuid = CpuidTable::supported_by(kvm);
    cpuid.apply_to(vcpu);
    x86::LongModeConfig long_mode;
    long_mode.leaf = options.guest_pages == "1g" ? x86::LeafSize::Size1G : x86::LeafSize::Size2M;
    if (long_mode.leaf == x86::LeafSize::Size1G && !cpuid.offers_1g_pages())
        throw UserError("this host's KVM does not offer 1 GiB guest pages (CPUID Page1GB); use --guest-pages 2m");
    guest::prepare_guest(vcpu, memory, options.guest, long_mode, params);

    bool dirty_log_matches = false;
    std::uint64_t rom_writes = 0;
    Clock::time_point touch_marks[3];
    guest::RunHooks hooks;
    hooks.on_mmio = [&](const MmioExit& exit) {
        bool in_rom = exit.guest_physical_address - rom_address < rom_size;
        if (!in_rom || exit.direction != AccessDirection::Write)
            return false;
        ++rom_writes;
        fmt::print("vmm: KVM_EXIT_MMIO: guest wrote {} byte(s) to ROM at {:#x}; ignored\n", exit.data.size(), exit.guest_physical_address);
        return true;
    };
    hooks.on_sync = [&](std::uint64_t stage) {
        if (stage >= CH02_SYNC_TOUCH_START && stage <= CH02_SYNC_WARM_TOUCH_DONE)
            touch_marks[stage - CH02_SYNC_TOUCH_START] = Clock::now();
        if (stage == CH02_SYNC_WARM_TOUCH_DONE) {
            // As live migration does: start logging while the guest runs. KVM write-protects
            // the slot, so the next write to each page is recorded.
            memory.set_dirty_logging(vm, high_ram, DirtyLogging::On);
        } else if (stage == CH02_SYNC_DIRTY_WRITTEN) {
            auto dirty = memory.take_dirty_pages(vm, high_ram);
            fmt::print("vmm: dirty log of slot {}: {} page(s): {:#x}\n", high_ram, dirty.size(), fmt::join(dirty, " "));
            dirty_log_matches = dirty == targets; // both in ascending address order
            fmt::print("vmm: dirty log {} the {} page(s) the guest was asked to write\n", dirty_log_matches ? "equals" : "DIFFERS FROM", targets.size());
            memory.set_dirty_logging(vm, high_ram, DirtyLogging::Off);
        }
    };
    if (options.verbose)
        hooks.on_exit = [](const VcpuExit& exit) { log::trace("{:<16} {}", exit_name(exit), describe_exit(exit)); };
    auto outcome = guest::run_until_done(vcpu, memory, hooks, std::chrono::seconds(options.timeout));

    auto evidence = inspect_backing(memory.regions()[high_ram].host.data());
    fmt::print("\nsummary\n");
    fmt::print("  VM set-up ({} backing, {}):  {:.2f} ms\n", backing_name(*backing), options.mem,
        std::chrono::duration<double, std::milli>(setup_time).count());
    if (touch_bytes) {
        fmt::print("  first touch of {} (ring 3, one store per 4 KiB page): {:.0f} MiB/s\n", format_size(touch_bytes),
            mib_per_second(touch_bytes, touch_marks[1] - touch_marks[0]));
        fmt::print("  warm touch  of {} (ring 3, every 8-byte word):        {:.0f} MiB/s\n", format_size(touch_bytes),
            mib_per_second(touch_bytes, touch_marks[2] - touch_marks[1]));
    }
    if (evidence)
        fmt::print("  host evidence for high RAM (/proc/self/smaps): KernelPageSize {} kB, resident {} kB, AnonHugePages {} kB, Hugetlb {} kB\n",
            evidence->kernel_page_size_kib, evidence->resident_kib, evidence->anon_huge_kib, evidence->hugetlb_kib);
    fmt::print("  ROM writes refused: {}\n", rom_writes);
    fmt::print("  dirty log: {}\n", dirty_log_matches ? "exact" : "MISMATCH");
    fmt::print("  exits: {}\n", outcome.exits.summary());
    return dirty_log_matches && rom_writes == 1 && outcome.guest_status == 0 ? 0 : app::exit_guest_failed;
}

int main(int argc, char** argv)
{
    return app::run_main("ch02_memory", [&] {
        Options options;
        CLI::App cli { "Chapter 02: guest memory, long mode, hugepages, dirty logging, a read-only slot", "ch02_memory" };
        cli.add_option("--guest", options.guest, "64-bit ELF guest")->capture_default_str();
        cli.add_option("--mem", options.mem, "guest RAM size (K, M, G)")->capture_default_str();
        cli.add_option("--hole-start", options.hole_start, "where the device hole below 4 GiB starts")->capture_default_str();
        cli.add_option("--backing", options.backing, "host pages behind RAM: 4k, thp, hugetlb-2m, hugetlb-1g")->capture_default_str();
        cli.add_option("--guest-pages", options.guest_pages, "leaf size of the guest's identity map")->check(CLI::IsMember({ "2m", "1g" }))->capture_default_str();
        cli.add_option("--dirty-pages", options.dirty_pages, "pages the guest writes while dirty logging is on")->capture_default_str();
        cli.add_option("--touch", options.touch, "bytes of high RAM the ring-3 loop touches (default: all of it; 0 skips)");
        cli.add_option("--timeout", options.timeout, "seconds before a guest that does not finish is stopped")->capture_default_str();
        cli.add_flag("--verbose", options.verbose, "trace every VM exit on stderr");
        if (auto status = app::parse_command_line(cli, argc, argv))
            return *status;
        if (options.verbose)
            log::set_level(log::Level::Trace);
        return run(options);
    });
}
