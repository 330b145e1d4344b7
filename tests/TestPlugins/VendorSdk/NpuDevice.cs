namespace Ternion.TestPlugins.VendorSdk;

/// <summary>Stands for a vendor SDK type a plugin builds on; its absence at load time is the "missing dependency" case.</summary>
public abstract class NpuDevice
{
    public string DeviceName => "sim-npu-0";
}
