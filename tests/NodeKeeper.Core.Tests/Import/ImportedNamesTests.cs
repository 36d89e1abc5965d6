using System.Text.Json;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Import;

namespace NodeKeeper.Core.Tests.Import;

/// <summary>An ecosystem app whose name nk would misread is renamed, with a note, as other invalid names are.</summary>
public class ImportedNamesTests
{
    private static (ImportResult Result, IReadOnlyList<string> Loaded) ImportAndLoad(string apps)
    {
        using var doc = JsonDocument.Parse("{\"apps\":[" + apps + "]}");
        var r = EcosystemImporter.Import(doc.RootElement, new ImportOptions { EcosystemDirectory = "/srv/shop" });
        r.Errors.Should().BeEmpty();
        var loaded = ConfigLoader.Load(r.Toml!, "nodekeeper.toml", "/srv/shop", new LoadContext("/var/log/nk", 4, _ => null));
        loaded.Errors.Should().BeEmpty("the output must load:\n" + r.Toml);
        return (r, loaded.Config!.Apps.Select(a => a.Name).ToList());
    }

    [Fact]
    public void An_app_named_all_is_renamed_so_the_output_loads()
    {
        var (r, names) = ImportAndLoad("""{"name":"all","script":"a.js"}""");

        names.Should().Equal("app-all");
        r.Notes.Should().Equal("app \"app-all\": name \"all\" is written as \"app-all\": \"all\" means every app to nk stop, restart, reload and delete");
    }

    [Fact]
    public void Names_of_dots_or_with_a_leading_dash_are_renamed_too()
    {
        var (r, names) = ImportAndLoad("""{"name":"..","script":"a.js"},{"name":"-api","script":"b.js"},{"name":"all","script":"c.js"},{"name":"app-all","script":"d.js"}""");

        names.Should().Equal("app", "api", "app-all", "app-all-2");
        r.Notes.Should().Equal(
            "app \"app\": name \"..\" is written as \"app\": a name made only of dots reads as a path",
            "app \"api\": name \"-api\" is written as \"api\": it would read as an option of nk (names must not start with \"-\")",
            "app \"app-all\": name \"all\" is written as \"app-all\": \"all\" means every app to nk stop, restart, reload and delete",
            "app \"app-all-2\": name \"app-all\" is written as \"app-all-2\": NodeKeeper names are unique, 1 to 64 letters, digits, \".\", \"_\" or \"-\"");
    }

    [Fact]
    public void A_name_derived_from_a_script_named_all_is_renamed()
    {
        var (_, names) = ImportAndLoad("""{"script":"bin/all.js"}""");
        names.Should().Equal("app-all");
    }
}
