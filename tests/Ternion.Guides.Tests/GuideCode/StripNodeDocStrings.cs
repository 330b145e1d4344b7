using Ternion.IR;
using Ternion.Passes;

namespace Ternion.Guides.Tests.GuideCode;

// guide:begin strip-doc-strings
/// <summary>
/// Drops the doc strings of nodes: exporters can write kilobytes of stack traces into them, and no
/// runtime reads them. In place: it edits the model it is given and counts what it changed.
/// </summary>
public sealed class StripNodeDocStrings : InPlacePass
{
    protected override int Apply(Model model, PassContext context)
    {
        int changes = 0;
        foreach (var node in model.AllNodes())
        {
            if (node.DocString is null) continue;
            node.DocString = null;
            changes++;
        }
        return changes;
    }
}
// guide:end strip-doc-strings
