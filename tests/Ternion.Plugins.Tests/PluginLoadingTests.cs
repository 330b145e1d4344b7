using Ternion.Backends.Targets;
using Ternion.Cli.Tests;
using Ternion.TestSupport;

namespace Ternion.Plugins.Tests;

/// <summary>
/// Plugins as `ternion targets` and `ternion compile` load them: a good one is listed with its
/// capabilities; each kind of broken one gives one error line naming the file, exit code 2, no crash.
/// </summary>
public class PluginLoadingTests : IDisposable
{
    private readonly TempDir _dir = new("plugins");
    public void Dispose() => _dir.Dispose();

    private static string OneErrorLine(CliResult r)
    {
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("", r.Stdout);
        var line = Assert.Single(r.ErrorLines);
        Assert.StartsWith("ternion: error: plugin ", line);
        return line["ternion: error: ".Length..];
    }

    [Fact]
    public void TargetsListsThePluginTargetWithItsCapabilitiesAndOrigin()
    {
        var r = CliRunner.Run("targets", "--plugin", PluginBuilds.Acme);
        Assert.Equal(0, r.ExitCode);
        var lines = r.Stdout.Split('\n');
        int at = Array.FindIndex(lines, l => l.StartsWith("acme-npu ", StringComparison.Ordinal));
        Assert.True(at >= 0, r.Stdout);
        Assert.Contains("com.acme::TernaryMatMul", lines[at]);
        // Details go under the descriptions, which start one column after the longest target name.
        int column = lines[at].IndexOf(' ', StringComparison.Ordinal) + 1;
        while (lines[at][column] == ' ') column++;
        Assert.Equal(new string(' ', column) + "native TernaryDecode: no, native FlexAttention: no, max opset 26, block 640, align 64  [plugin Ternion.Examples.AcmeAccelerator.dll]", lines[at + 1]);
        foreach (var builtIn in new[] { "fallback ", "folded ", "native ", "ort-nbits ", "ort-nbits-int8 " })
            Assert.Contains(lines, l => l.StartsWith(builtIn, StringComparison.Ordinal));
        Assert.Contains("plugin passes: FuseTernaryMatMul", r.Stdout);
    }

    [Fact]
    public void AFileThatIsNotAnAssembly()
    {
        var fake = _dir.File("notes.dll");
        File.WriteAllText(fake, "this is not a .NET assembly");
        var error = OneErrorLine(CliRunner.Run("targets", "--plugin", fake));
        Assert.StartsWith($"plugin {fake}: not a loadable .NET assembly (", error);
    }

    [Fact]
    public void AFileThatDoesNotExist()
    {
        var error = OneErrorLine(CliRunner.Run("compile", "model.onnx", "-o", _dir.File("out.onnx"), "--plugin", _dir.File("missing.dll")));
        Assert.Equal($"plugin {_dir.File("missing.dll")}: file not found", error);
    }

    [Fact]
    public void AMissingDependency()
    {
        // The plugin alone, without the vendor SDK it was built against.
        var plugin = PluginBuilds.Install(Path.Combine(_dir.Path, "alone"), PluginBuilds.UsesVendorSdk);
        var error = OneErrorLine(CliRunner.Run("targets", "--plugin", plugin));
        Assert.Equal($"plugin {plugin}: needs assembly 'Ternion.TestPlugins.VendorSdk' (version 1.0.0.0), which is neither next to it nor part of Ternion; copy the plugin's dependencies into its folder", error);
    }

    [Fact]
    public void ADependencyBesideThePluginIsFound()
    {
        var plugin = PluginBuilds.Install(Path.Combine(_dir.Path, "with-sdk"), PluginBuilds.UsesVendorSdk, PluginBuilds.VendorSdk);
        var r = CliRunner.Run("targets", "--plugin", plugin);
        Assert.Equal(0, r.ExitCode);
        Assert.Matches(@"(?m)^sim-npu +Test plugin target backed by the vendor SDK \(sim-npu-0\)", r.Stdout);
    }

    [Fact]
    public void AConstructorThatThrows()
    {
        var error = OneErrorLine(CliRunner.Run("targets", "--plugin", PluginBuilds.ThrowingConstructor));
        Assert.Equal($"plugin {PluginBuilds.ThrowingConstructor}: creating Ternion.TestPlugins.ThrowingConstructor.NoDeviceTarget failed: no NPU found on this machine", error);
    }

    [Fact]
    public void ADuplicateTargetName()
    {
        var copy = _dir.File("acme-copy.dll");
        File.Copy(PluginBuilds.Acme, copy);
        var error = OneErrorLine(CliRunner.Run("targets", "--plugin", PluginBuilds.Acme, "--plugin", copy));
        Assert.Equal("plugin acme-copy.dll: target 'acme-npu' is already defined by plugin Ternion.Examples.AcmeAccelerator.dll", error);
    }

    [Fact]
    public void AnAssemblyWithNoTargets()
    {
        var error = OneErrorLine(CliRunner.Run("targets", "--plugin", PluginBuilds.VendorSdk));
        Assert.Equal($"plugin {PluginBuilds.VendorSdk}: defines no public ITarget or IPass type with a parameterless constructor", error);
    }

    [Fact]
    public void TheSameFileTwiceLoadsOnce()
    {
        var r = CliRunner.Run("targets", "--plugin", PluginBuilds.Acme, "--plugin", PluginBuilds.Acme);
        Assert.Equal(0, r.ExitCode);
        Assert.Single(r.Stdout.Split('\n'), l => l.StartsWith("acme-npu ", StringComparison.Ordinal));
    }

    [Fact]
    public void ARefusedPluginRegistersNothing()
    {
        var registry = TargetRegistry.WithBuiltIns();
        registry.LoadPlugin(PluginBuilds.Acme);
        var copy = _dir.File("acme-copy.dll");
        File.Copy(PluginBuilds.Acme, copy);
        Assert.Throws<Ternion.IR.TernionException>(() => registry.LoadPlugin(copy));
        Assert.Equal(7, registry.Targets.Count()); // six built-in, acme-npu once
        Assert.Equal(["FuseTernaryMatMul"], registry.Passes.Keys);
        Assert.Equal([Path.GetFullPath(PluginBuilds.Acme)], registry.Sources);
    }

    [Fact]
    public void APluginsFolderHoldsPluginsAndPluginSubfoldersWithTheirDependencies()
    {
        // plugins/Acme.dll, and plugins/Ternion.TestPlugins.UsesVendorSdk/ with the plugin and its SDK (not itself a plugin).
        var folder = Path.Combine(_dir.Path, "plugins");
        PluginBuilds.Install(folder, PluginBuilds.Acme);
        PluginBuilds.Install(Path.Combine(folder, "Ternion.TestPlugins.UsesVendorSdk"), PluginBuilds.UsesVendorSdk, PluginBuilds.VendorSdk);
        var registry = TargetRegistry.WithBuiltIns();
        registry.LoadPluginFolder(folder);
        Assert.Equal(["acme-npu", "fallback", "folded", "native", "ort-nbits", "ort-nbits-int8", "ort-ttf1", "sim-npu"], registry.Targets.Select(t => t.Name).Order(StringComparer.Ordinal));
        Assert.Equal("plugin Ternion.TestPlugins.UsesVendorSdk.dll", registry.OriginOf(registry.Get("sim-npu")));
    }

    [Fact]
    public void TheBuiltInTargetsAreExactlyWhatAPluginScanWouldFindInBackends()
    {
        // Built-ins get no private path: they are the public, concrete ITarget types of Ternion.Backends with
        // parameterless constructors, the same rule LoadPlugin applies to a plugin assembly.
        var scanned = typeof(TargetRegistry).Assembly.GetExportedTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(ITarget).IsAssignableFrom(t) && t.GetConstructor(Type.EmptyTypes) is not null)
            .Select(t => ((ITarget)Activator.CreateInstance(t)!).Name).Order(StringComparer.Ordinal);
        var registry = TargetRegistry.WithBuiltIns();
        Assert.Equal(scanned, registry.Targets.Select(t => t.Name).Order(StringComparer.Ordinal));
        Assert.All(registry.Targets, t => Assert.Equal("built-in", registry.OriginOf(t)));
    }

    [Fact]
    public void ThePluginsFoldersAreNextToTernionAndInTheHomeFolder()
    {
        var folders = TargetRegistry.DefaultPluginFolders();
        Assert.Equal(Path.Combine(AppContext.BaseDirectory, "plugins"), folders[0]);
        Assert.Equal(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".ternion", "plugins"), folders[1]);
    }
}
