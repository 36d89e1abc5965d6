using System.Text.Json;
using NodeKeeper.Core.Import;

namespace NodeKeeper.Core.Tests.Import;

/// <summary>process.yml as PM2 reads it with js-yaml: plain scalars typed by YAML 1.2's core schema, quoted ones strings.</summary>
public class YamlEcosystemTests
{
    [Fact]
    public void A_process_yml_as_PM2_documents_it_becomes_its_JSON()
    {
        var (json, error) = YamlEcosystem.ToJson("""
            # process.yml
            apps:
              - script   : ./api.js
                name     : 'api-app'
                instances: 4
                exec_mode: cluster
                watch    : false
                max_memory_restart: 300M
                env:
                  NODE_ENV: production
                  PORT: "3000"
                  RATIO: 1.5
                  EMPTY: ~
              - script : worker.py
                interpreter: python3
                args: [--queue, "7"]
                cron_restart: 0 3 * * *
            """);

        error.Should().BeNull();
        using var doc = JsonDocument.Parse(json!);
        var apps = doc.RootElement.GetProperty("apps");
        var api = apps[0];
        api.GetProperty("name").GetString().Should().Be("api-app");
        api.GetProperty("instances").GetInt32().Should().Be(4);
        api.GetProperty("watch").ValueKind.Should().Be(JsonValueKind.False);
        api.GetProperty("max_memory_restart").GetString().Should().Be("300M");
        api.GetProperty("env").GetProperty("PORT").GetString().Should().Be("3000", "a quoted scalar stays a string");
        api.GetProperty("env").GetProperty("RATIO").GetDouble().Should().Be(1.5);
        api.GetProperty("env").GetProperty("EMPTY").ValueKind.Should().Be(JsonValueKind.Null);
        apps[1].GetProperty("args").EnumerateArray().Select(a => a.ToString()).Should().Equal("--queue", "7");
        apps[1].GetProperty("args")[1].ValueKind.Should().Be(JsonValueKind.String);
        apps[1].GetProperty("cron_restart").GetString().Should().Be("0 3 * * *");
    }

    [Theory]
    [InlineData("a: 0x1F", "{\"a\":31}")]
    [InlineData("a: 0o17", "{\"a\":15}")]
    [InlineData("a: -12", "{\"a\":-12}")]
    [InlineData("a: TRUE", "{\"a\":true}")]
    [InlineData("a: yes", "{\"a\":\"yes\"}")]
    [InlineData("a: 1e3", "{\"a\":1000}")]
    [InlineData("a: 1.2.3", "{\"a\":\"1.2.3\"}")]
    [InlineData("a: !!str 12", "{\"a\":\"12\"}")]
    [InlineData("base: &b {x: 1}\nuse: *b", "{\"base\":{\"x\":1},\"use\":{\"x\":1}}")]
    public void Plain_scalars_are_typed_as_js_yaml_types_them(string yaml, string expected) =>
        YamlEcosystem.ToJson(yaml).Json.Should().Be(expected);

    [Fact]
    public void Broken_YAML_is_one_line_that_says_where()
    {
        var (json, error) = YamlEcosystem.ToJson("apps:\n  - name: a\n   script: b.js\n");
        json.Should().BeNull();
        error.Should().StartWith("line 3, column").And.NotContain("\n");
        YamlEcosystem.ToJson("a: 1\n---\nb: 2\n").Error.Should().Contain("2 YAML documents");
        YamlEcosystem.ToJson("").Error.Should().Be("it holds no YAML document");
    }
}
