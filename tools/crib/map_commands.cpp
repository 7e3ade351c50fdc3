// crib map show|dump|lookup|update: the maps of a freshly loaded object.
// Maps live as long as the command; pinning (bpffs) is what keeps them.
#include <cstdio>

#include "cli.hpp"
#include "runtime/runtime.hpp"

namespace crib::cli {

Json dump_map_entries(const maps::Map& map, bool text, const std::string& name) {
    const maps::MapSpec& spec = map.spec();
    std::vector<uint8_t> key(spec.key_size), next(spec.key_size), value(map.user_value_size());
    Json entries = Json::array();
    const void* cursor = nullptr;
    while (map.next_key(cursor, next.data())) {
        key = next;
        cursor = key.data();
        if (!map.lookup(key.data(), value.data())) continue;
        std::string key_hex = to_hex(key.data(), key.size());
        std::string value_hex = to_hex(value.data(), value.size());
        if (text) std::printf("%s: key %s value %s\n", name.c_str(), key_hex.c_str(), value_hex.c_str());
        entries.push_back(Json{{"key", key_hex}, {"value", value_hex}});
    }
    return entries;
}

namespace {

struct MapArgs {
    std::string object;
    std::string map;
    std::string key;
    std::string value;
    std::string flags = "any";
};

Result<std::unique_ptr<runtime::LoadedObject>> load(const MapArgs& args) {
    return runtime::load_file(args.object);
}

Result<const runtime::MapEntry*> pick_map(const runtime::LoadedObject& loaded, const std::string& name) {
    for (const auto& entry : loaded.maps())
        if (entry.name == name) return &entry;
    return make_error(ENOENT, "obj '{}': no map named '{}'", loaded.name(), name);
}

Result<std::vector<uint8_t>> sized_hex(const std::string& text, size_t size, const char* what) {
    auto bytes = CRIB_TRY(parse_hex(text));
    if (bytes.size() != size)
        return make_error(EINVAL, "{} must be {} bytes, got {}", what, size, bytes.size());
    return bytes;
}

int map_show(const Common& common, const MapArgs& args) {
    auto loaded = load(args);
    if (!loaded) return report(common, loaded.error());
    Json maps = Json::array();
    for (const auto& entry : (*loaded)->maps()) {
        const maps::MapSpec& spec = entry.map->spec();
        if (common.json) {
            maps.push_back(Json{{"id", entry.id}, {"name", entry.name},
                                {"type", std::string(maps::map_type_name(spec.type))},
                                {"key_size", spec.key_size}, {"value_size", spec.value_size},
                                {"max_entries", spec.max_entries}, {"flags", spec.flags}});
        } else {
            std::printf("%u: %s  type %s  key %uB  value %uB  max_entries %u  flags %#x\n", entry.id,
                        entry.name.c_str(), std::string(maps::map_type_name(spec.type)).c_str(),
                        spec.key_size, spec.value_size, spec.max_entries, spec.flags);
        }
    }
    if (common.json) print_json(Json{{"object", (*loaded)->name()}, {"maps", maps}});
    return 0;
}

int map_dump(const Common& common, const MapArgs& args) {
    auto loaded = load(args);
    if (!loaded) return report(common, loaded.error());
    Json out = Json::object();
    for (const auto& entry : (*loaded)->maps()) {
        if (!args.map.empty() && entry.name != args.map) continue;
        if (entry.map->type() == maps::MapType::Ringbuf) continue;
        out[entry.name] = dump_map_entries(*entry.map, !common.json, entry.name);
    }
    if (!args.map.empty() && out.empty())
        return report(common, make_error(ENOENT, "obj '{}': no map named '{}'", (*loaded)->name(), args.map));
    if (common.json) print_json(out);
    return 0;
}

int map_lookup(const Common& common, const MapArgs& args) {
    auto loaded = load(args);
    if (!loaded) return report(common, loaded.error());
    auto entry = pick_map(**loaded, args.map);
    if (!entry) return report(common, entry.error());
    const maps::Map& map = *(*entry)->map;
    auto key = sized_hex(args.key, map.spec().key_size, "--key");
    if (!key) return report(common, key.error());
    std::vector<uint8_t> value(map.user_value_size());
    if (auto found = map.lookup(key->data(), value.data()); !found)
        return report(common, std::move(found.error().in_object((*loaded)->name())));
    if (common.json)
        print_json(Json{{"key", to_hex(key->data(), key->size())}, {"value", to_hex(value.data(), value.size())}});
    else
        std::printf("key %s value %s\n", to_hex(key->data(), key->size()).c_str(),
                    to_hex(value.data(), value.size()).c_str());
    return 0;
}

int map_update(const Common& common, const MapArgs& args) {
    auto loaded = load(args);
    if (!loaded) return report(common, loaded.error());
    auto entry = pick_map(**loaded, args.map);
    if (!entry) return report(common, entry.error());
    maps::Map& map = *(*entry)->map;
    auto key = sized_hex(args.key, map.spec().key_size, "--key");
    if (!key) return report(common, key.error());
    auto value = sized_hex(args.value, map.user_value_size(), "--value");
    if (!value) return report(common, value.error());
    uint64_t flags = args.flags == "noexist" ? maps::kNoExist : args.flags == "exist" ? maps::kExist : maps::kAny;
    if (auto updated = map.update(key->data(), value->data(), flags); !updated)
        return report(common, std::move(updated.error().in_object((*loaded)->name())));
    if (common.json)
        print_json(Json{{"updated", true}, {"map", args.map}});
    else
        std::printf("updated %s\n", args.map.c_str());
    return 0;
}

}  // namespace

void add_map_commands(CLI::App& app, Common& common) {
    auto* map = app.add_subcommand("map", "Inspect and change the maps of a BPF object");
    map->require_subcommand(1);
    auto args = std::make_shared<MapArgs>();
    auto add = [&](const char* name, const char* help, int (*run)(const Common&, const MapArgs&)) {
        auto* sub = map->add_subcommand(name, help);
        sub->add_option("OBJ", args->object, "BPF object file (.bpf.o)")->required();
        sub->add_flag("--json", common.json, "Print JSON");
        sub->callback([&common, args, run] { common.status = run(common, *args); });
        return sub;
    };
    add("show", "List maps with their types and sizes", map_show);
    add("dump", "Print every entry", map_dump)->add_option("--map", args->map, "Only this map");
    auto* lookup = add("lookup", "Look up one key", map_lookup);
    lookup->add_option("--map", args->map, "Map name")->required();
    lookup->add_option("--key", args->key, "Key as hex bytes")->required();
    auto* update = add("update", "Update one entry", map_update);
    update->add_option("--map", args->map, "Map name")->required();
    update->add_option("--key", args->key, "Key as hex bytes")->required();
    update->add_option("--value", args->value, "Value as hex bytes")->required();
    update->add_option("--flags", args->flags, "any, noexist or exist")
        ->check(CLI::IsMember({"any", "noexist", "exist"}));
}

}  // namespace crib::cli
