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
        if (text)
            std::printf("%s: key %s value %s\n", name.c_str(), key_hex.c_str(), value_hex.c_str());
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

Result<std::vector<uint8_t>> sized_hex(const std::string& text, size_t size, const char* what) {
    auto bytes = CRIB_TRY(parse_hex(text));
    if (bytes.size() != size)
        return make_error(EINVAL, "{} must be {} bytes, got {}", what, size, bytes.size());
    return bytes;
}

int map_show(const Common& common, const MapArgs& args) {
    auto loaded = runtime::load_file(args.object);
    if (!loaded) return report(common, loaded.error());
    Json maps = Json::array();
    for (const auto& entry : (*loaded)->maps()) {
        const maps::MapSpec& spec = entry.map->spec();
        if (common.json) {
            maps.push_back(Json{{"id", entry.id},
                                {"name", entry.name},
                                {"type", std::string(maps::map_type_name(spec.type))},
                                {"key_size", spec.key_size},
                                {"value_size", spec.value_size},
                                {"max_entries", spec.max_entries},
                                {"flags", spec.flags}});
        } else {
            std::printf("%u: %s  type %s  key %uB  value %uB  max_entries %u  flags %#x\n",
                        entry.id, entry.name.c_str(),
                        std::string(maps::map_type_name(spec.type)).c_str(), spec.key_size,
                        spec.value_size, spec.max_entries, spec.flags);
        }
    }
    if (common.json) print_json(Json{{"object", (*loaded)->name()}, {"maps", maps}});
    return 0;
}

int map_dump(const Common& common, const MapArgs& args) {
    auto loaded = runtime::load_file(args.object);
    if (!loaded) return report(common, loaded.error());
    Json out = Json::object();
    for (const auto& entry : (*loaded)->maps()) {
        if (!args.map.empty() && entry.name != args.map) continue;
        if (entry.map->type() == maps::MapType::Ringbuf) continue;
        out[entry.name] = dump_map_entries(*entry.map, !common.json, entry.name);
    }
    if (!args.map.empty() && out.empty())
        return report(
            common, make_error(ENOENT, "obj '{}': no map named '{}'", (*loaded)->name(), args.map));
    if (common.json) print_json(out);
    return 0;
}

// The object loaded, the map named by --map and the key from --key.
struct MapTarget {
    std::unique_ptr<runtime::LoadedObject> loaded;
    maps::Map* map;
    std::vector<uint8_t> key;
};

Result<MapTarget> open_target(const MapArgs& args) {
    MapTarget target{CRIB_TRY(runtime::load_file(args.object)), nullptr, {}};
    target.map = target.loaded->find_map(args.map);
    if (!target.map)
        return make_error(ENOENT, "obj '{}': no map named '{}'", target.loaded->name(), args.map);
    target.key = CRIB_TRY(sized_hex(args.key, target.map->spec().key_size, "--key"));
    return target;
}

int map_lookup(const Common& common, const MapArgs& args) {
    auto target = open_target(args);
    if (!target) return report(common, target.error());
    std::vector<uint8_t> value(target->map->user_value_size());
    if (auto found = target->map->lookup(target->key.data(), value.data()); !found)
        return report(common, std::move(found.error().in_object(target->loaded->name())));
    std::string key_hex = to_hex(target->key.data(), target->key.size());
    std::string value_hex = to_hex(value.data(), value.size());
    if (common.json)
        print_json(Json{{"key", key_hex}, {"value", value_hex}});
    else
        std::printf("key %s value %s\n", key_hex.c_str(), value_hex.c_str());
    return 0;
}

int map_update(const Common& common, const MapArgs& args) {
    auto target = open_target(args);
    if (!target) return report(common, target.error());
    auto value = sized_hex(args.value, target->map->user_value_size(), "--value");
    if (!value) return report(common, value.error());
    uint64_t flags = args.flags == "noexist" ? maps::kNoExist
                     : args.flags == "exist" ? maps::kExist
                                             : maps::kAny;
    if (auto updated = target->map->update(target->key.data(), value->data(), flags); !updated)
        return report(common, std::move(updated.error().in_object(target->loaded->name())));
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
        return add_object_command(*map, name, help, common, args, run);
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
