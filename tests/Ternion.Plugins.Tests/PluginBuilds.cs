using Ternion.TestSupport;

namespace Ternion.Plugins.Tests;

/// <summary>Where the plugin projects this test project depends on were built (same configuration and layout as these tests).</summary>
public static class PluginBuilds
{
    public static string Acme => Dll("Backends/Examples/AcmeAccelerator", "Ternion.Examples.AcmeAccelerator");
    public static string VendorSdk => Dll("tests/TestPlugins/VendorSdk", "Ternion.TestPlugins.VendorSdk");
    public static string UsesVendorSdk => Dll("tests/TestPlugins/UsesVendorSdk", "Ternion.TestPlugins.UsesVendorSdk");
    public static string ThrowingConstructor => Dll("tests/TestPlugins/ThrowingConstructor", "Ternion.TestPlugins.ThrowingConstructor");

    private static string Dll(string projectDir, string assembly)
    {
        // These tests run from tests/Ternion.Plugins.Tests/bin/<config>/<tfm>/<rid>/: the plugin sits at the same place under its project.
        var self = Path.Combine(Paths.RepoRoot, "tests", "Ternion.Plugins.Tests");
        var relative = Path.GetRelativePath(self, AppContext.BaseDirectory);
        var dll = Path.Combine(Paths.RepoRoot, projectDir, relative, assembly + ".dll");
        if (!File.Exists(dll)) throw new InvalidOperationException($"{dll} was not built; build {projectDir} (a project reference of these tests) first");
        return dll;
    }

    /// <summary>Copies plugin files into a folder (as a user would install them) and returns the path of the first.</summary>
    public static string Install(string folder, params string[] files)
    {
        Directory.CreateDirectory(folder);
        foreach (var f in files) File.Copy(f, Path.Combine(folder, Path.GetFileName(f)), overwrite: true);
        return Path.Combine(folder, Path.GetFileName(files[0]));
    }
}
