using Ternion.Backends.Targets;
using Ternion.Passes;
using Ternion.TestPlugins.VendorSdk;

namespace Ternion.TestPlugins.UsesVendorSdk;

public sealed class SimNpuTarget : NpuDevice, ITarget
{
    public string Name => "sim-npu";
    public string Description => $"Test plugin target backed by the vendor SDK ({DeviceName})";
    public TargetCapabilities Capabilities { get; } = TargetCapabilities.Portable;
}
