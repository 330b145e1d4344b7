using Ternion.Backends.Targets;
using Ternion.Passes;

namespace Ternion.TestPlugins.ThrowingConstructor;

public sealed class NoDeviceTarget : ITarget
{
    public NoDeviceTarget() => throw new InvalidOperationException("no NPU found on this machine");
    public string Name => "no-device";
    public string Description => "never constructed";
    public TargetCapabilities Capabilities => TargetCapabilities.Portable;
}
