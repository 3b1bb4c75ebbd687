#include "worker/engine/torch_pickle.h"

#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace rib::engine {
namespace {

enum class Kind {
  kNone,
  kBool,
  kInt,
  kFloat,
  kString,
  kTuple,
  kList,
  kDict,
  kOrderedDict,
  kGlobal,
  kStorage,
  kTensor
};
enum class Callable { kOrderedDict, kRebuildTensorV2, kRebuildParameter, kStorageType };

struct Value;
using Ref = std::shared_ptr<Value>;

struct Value {
  Kind kind = Kind::kNone;
  int64_t i = 0;           // kBool, kInt
  std::string s;           // kString; kGlobal: "module.name" for messages
  std::vector<Ref> items;  // kTuple, kList
  std::vector<std::pair<Ref, Ref>> entries;    // kDict, kOrderedDict
  Callable callable = Callable::kOrderedDict;  // kGlobal
  PickledTensor tensor;                        // kStorage (key, dtype, numel), kTensor
  int depth = 0;                               // containers nested inside this one
  bool nested = false;  // already inside another container: never mutated again
};

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kTuple:
      return "tuple";
    case Kind::kList:
      return "list";
    case Kind::kDict:
      return "dict";
    case Kind::kOrderedDict:
      return "OrderedDict";
    case Kind::kGlobal:
      return "global";
    case Kind::kStorage:
      return "storage";
    case Kind::kTensor:
      return "tensor";
  }
  return "?";
}

// The globals a state_dict needs, and nothing else.
const std::map<std::string, std::pair<Callable, StorageDtype>>& AllowedGlobals() {
  static const auto* globals =
      new std::map<std::string, std::pair<Callable, StorageDtype>>{
          {"collections.OrderedDict", {Callable::kOrderedDict, StorageDtype::kFloat}},
          {"torch._utils._rebuild_tensor_v2",
           {Callable::kRebuildTensorV2, StorageDtype::kFloat}},
          {"torch._utils._rebuild_parameter",
           {Callable::kRebuildParameter, StorageDtype::kFloat}},
          {"torch.FloatStorage", {Callable::kStorageType, StorageDtype::kFloat}},
          {"torch.DoubleStorage", {Callable::kStorageType, StorageDtype::kDouble}},
          {"torch.HalfStorage", {Callable::kStorageType, StorageDtype::kHalf}},
          {"torch.BFloat16Storage", {Callable::kStorageType, StorageDtype::kBFloat16}},
          {"torch.LongStorage", {Callable::kStorageType, StorageDtype::kLong}},
          {"torch.IntStorage", {Callable::kStorageType, StorageDtype::kInt}},
          {"torch.ShortStorage", {Callable::kStorageType, StorageDtype::kShort}},
          {"torch.CharStorage", {Callable::kStorageType, StorageDtype::kChar}},
          {"torch.ByteStorage", {Callable::kStorageType, StorageDtype::kByte}},
          {"torch.BoolStorage", {Callable::kStorageType, StorageDtype::kBool}},
      };
  return *globals;
}

class Unpickler {
 public:
  explicit Unpickler(std::string_view data) : data_(data) {}

  absl::StatusOr<Ref> Run();

 private:
  absl::Status Error(const std::string& what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("data.pkl: ", what, " (at byte ", op_pos_, ")"));
  }
  absl::Status Need(size_t n) const {
    if (data_.size() - pos_ < n) return Error("truncated pickle");
    return absl::OkStatus();
  }
  absl::StatusOr<uint64_t> ReadUint(size_t n) {
    RIB_RETURN_IF_ERROR(Need(n));
    uint64_t v = 0;
    for (size_t k = 0; k < n; ++k)
      v |= uint64_t{static_cast<uint8_t>(data_[pos_ + k])} << (8 * k);
    pos_ += n;
    return v;
  }
  absl::StatusOr<std::string> ReadBytes(uint64_t n) {
    RIB_RETURN_IF_ERROR(Need(n));
    std::string s(data_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  absl::StatusOr<std::string> ReadLine() {
    const size_t end = data_.find('\n', pos_);
    if (end == std::string_view::npos) return Error("truncated pickle");
    std::string s(data_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return s;
  }
  absl::StatusOr<Ref> Pop() {
    if (stack_.size() <= Floor()) return Error("stack underflow");
    Ref v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  size_t Floor() const { return marks_.empty() ? 0 : marks_.back(); }
  absl::StatusOr<std::vector<Ref>> PopToMark() {
    if (marks_.empty()) return Error("no MARK on the stack");
    std::vector<Ref> out(stack_.begin() + marks_.back(), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return out;
  }
  void Push(Kind kind) {
    stack_.push_back(std::make_shared<Value>());
    stack_.back()->kind = kind;
  }
  // Puts `child` inside `parent`, keeping nesting bounded and the graph acyclic.
  absl::Status Adopt(Value& parent, const Ref& child) {
    if (parent.nested) return Error("a container changed after being nested (refused)");
    if (child.get() == &parent) return Error("a container inside itself (refused)");
    child->nested = true;
    parent.depth = std::max(parent.depth, child->depth + 1);
    if (parent.depth > kMaxPickleDepth) {
      return Error(absl::StrCat("nesting deeper than ", kMaxPickleDepth));
    }
    return absl::OkStatus();
  }
  absl::Status MakeTuple(std::vector<Ref> items) {
    auto t = std::make_shared<Value>();
    t->kind = Kind::kTuple;
    for (const Ref& item : items) RIB_RETURN_IF_ERROR(Adopt(*t, item));
    t->items = std::move(items);
    stack_.push_back(std::move(t));
    return absl::OkStatus();
  }
  absl::Status Global(const std::string& module, const std::string& name);
  absl::Status SetItems(std::vector<Ref> kv);
  absl::Status Appends(std::vector<Ref> values);
  absl::Status Reduce();
  absl::Status Build();
  absl::Status PersistentLoad();
  absl::Status Memoize(uint64_t index) {
    if (stack_.size() <= Floor()) return Error("memo put of an empty stack");
    memo_[index] = stack_.back();
    return absl::OkStatus();
  }
  absl::Status Recall(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end())
      return Error(absl::StrCat("memo entry ", index, " was never put"));
    stack_.push_back(it->second);
    return absl::OkStatus();
  }

  std::string_view data_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  std::vector<Ref> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Ref> memo_;
};

absl::Status Unpickler::Global(const std::string& module, const std::string& name) {
  const std::string full = absl::StrCat(module, ".", name);
  auto it = AllowedGlobals().find(full);
  if (it == AllowedGlobals().end()) {
    return Error(absl::StrCat("global '", full,
                              "' is not allowed in a state_dict (only OrderedDict, "
                              "tensors and storages are)"));
  }
  Push(Kind::kGlobal);
  stack_.back()->s = full;
  stack_.back()->callable = it->second.first;
  stack_.back()->tensor.dtype = it->second.second;
  return absl::OkStatus();
}

absl::Status Unpickler::SetItems(std::vector<Ref> kv) {
  RIB_ASSIGN_OR_RETURN(Ref dict, Pop());
  if (dict->kind != Kind::kDict && dict->kind != Kind::kOrderedDict) {
    return Error(absl::StrCat("SETITEM on a ", KindName(dict->kind), " (refused)"));
  }
  if (kv.size() % 2 != 0) return Error("SETITEMS with an odd number of items");
  for (size_t k = 0; k < kv.size(); k += 2) {
    RIB_RETURN_IF_ERROR(Adopt(*dict, kv[k]));
    RIB_RETURN_IF_ERROR(Adopt(*dict, kv[k + 1]));
    dict->entries.emplace_back(kv[k], kv[k + 1]);
  }
  stack_.push_back(std::move(dict));
  return absl::OkStatus();
}

absl::Status Unpickler::Appends(std::vector<Ref> values) {
  RIB_ASSIGN_OR_RETURN(Ref list, Pop());
  if (list->kind != Kind::kList) {
    return Error(absl::StrCat("APPEND on a ", KindName(list->kind), " (refused)"));
  }
  for (const Ref& v : values) RIB_RETURN_IF_ERROR(Adopt(*list, v));
  list->items.insert(list->items.end(), values.begin(), values.end());
  stack_.push_back(std::move(list));
  return absl::OkStatus();
}

// A tuple of non-negative ints (a tensor's size or stride).
absl::StatusOr<std::vector<int64_t>> Ints(const Ref& v, const char* what) {
  if (v->kind != Kind::kTuple) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is a ", KindName(v->kind)));
  }
  std::vector<int64_t> out;
  for (const Ref& item : v->items) {
    if (item->kind != Kind::kInt || item->i < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " holds a negative or non-int value"));
    }
    out.push_back(item->i);
  }
  return out;
}

bool IsEmptyOrderedDict(const Ref& v) {
  return v->kind == Kind::kOrderedDict && v->entries.empty();
}

absl::Status Unpickler::Reduce() {
  RIB_ASSIGN_OR_RETURN(Ref args, Pop());
  RIB_ASSIGN_OR_RETURN(Ref callable, Pop());
  if (callable->kind != Kind::kGlobal || callable->callable == Callable::kStorageType) {
    return Error(absl::StrCat(
        "REDUCE of ",
        callable->kind == Kind::kGlobal ? callable->s : KindName(callable->kind),
        " (refused: only OrderedDict and tensor rebuilds)"));
  }
  if (args->kind != Kind::kTuple) return Error("REDUCE arguments are not a tuple");
  const std::vector<Ref>& a = args->items;
  auto out = std::make_shared<Value>();
  switch (callable->callable) {
    case Callable::kOrderedDict:
      if (!a.empty()) return Error("OrderedDict() with arguments (refused)");
      out->kind = Kind::kOrderedDict;
      break;
    case Callable::kRebuildTensorV2: {
      // (storage, storage_offset, size, stride, requires_grad, backward_hooks[,
      // metadata])
      if (a.size() != 6 && a.size() != 7) {
        return Error(absl::StrCat("_rebuild_tensor_v2 with ", a.size(), " arguments"));
      }
      if (a[0]->kind != Kind::kStorage)
        return Error("_rebuild_tensor_v2 of a non-storage");
      if (a[1]->kind != Kind::kInt || a[1]->i < 0) {
        return Error("_rebuild_tensor_v2: storage offset is not a non-negative int");
      }
      if (!IsEmptyOrderedDict(a[5])) {
        return Error("_rebuild_tensor_v2: backward hooks are not an empty OrderedDict");
      }
      out->kind = Kind::kTensor;
      out->tensor = a[0]->tensor;
      out->tensor.storage_offset = a[1]->i;
      auto sizes = Ints(a[2], "size");
      auto strides = Ints(a[3], "stride");
      if (!sizes.ok())
        return Error(absl::StrCat("_rebuild_tensor_v2: ", sizes.status().message()));
      if (!strides.ok()) {
        return Error(absl::StrCat("_rebuild_tensor_v2: ", strides.status().message()));
      }
      if (sizes->size() != strides->size()) {
        return Error("_rebuild_tensor_v2: size and stride differ in length");
      }
      out->tensor.sizes = *std::move(sizes);
      out->tensor.strides = *std::move(strides);
      break;
    }
    case Callable::kRebuildParameter:
      // (data, requires_grad, backward_hooks)
      if (a.size() != 3 || a[0]->kind != Kind::kTensor || !IsEmptyOrderedDict(a[2])) {
        return Error("_rebuild_parameter without (tensor, bool, empty OrderedDict)");
      }
      out->kind = Kind::kTensor;
      out->tensor = a[0]->tensor;
      break;
    case Callable::kStorageType:
      break;  // refused above
  }
  stack_.push_back(std::move(out));
  return absl::OkStatus();
}

absl::Status Unpickler::Build() {
  RIB_ASSIGN_OR_RETURN(Ref state, Pop());
  if (stack_.size() <= Floor()) return Error("BUILD on an empty stack");
  const Ref& target = stack_.back();
  if (target->kind != Kind::kOrderedDict) {
    return Error(absl::StrCat("BUILD on a ", KindName(target->kind),
                              " (refused: only an OrderedDict's attributes)"));
  }
  // torchvision's `_metadata` (per-module versions); rib has no use for it.
  if (state->kind != Kind::kDict) return Error("BUILD state is not a dict");
  for (const auto& [key, value] : state->entries) {
    if (key->kind != Kind::kString || key->s != "_metadata") {
      return Error("BUILD sets an attribute other than _metadata (refused)");
    }
  }
  return absl::OkStatus();
}

absl::Status Unpickler::PersistentLoad() {
  RIB_ASSIGN_OR_RETURN(Ref pid, Pop());
  // ('storage', storage_type, key, location, numel)
  const std::vector<Ref>& p = pid->items;
  if (pid->kind != Kind::kTuple || p.size() != 5 || p[0]->kind != Kind::kString ||
      p[0]->s != "storage") {
    return Error("persistent id is not ('storage', type, key, location, numel)");
  }
  if (p[1]->kind != Kind::kGlobal || p[1]->callable != Callable::kStorageType) {
    return Error("persistent id's storage type is not a torch storage class");
  }
  if (p[2]->kind != Kind::kString || p[2]->s.empty() ||
      p[2]->s.find_first_not_of(
          "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_") !=
          std::string::npos) {
    return Error("storage key is not a plain name");
  }
  if (p[3]->kind != Kind::kString) return Error("storage location is not a string");
  if (p[4]->kind != Kind::kInt || p[4]->i < 0)
    return Error("storage numel is not an int");
  auto storage = std::make_shared<Value>();
  storage->kind = Kind::kStorage;
  storage->tensor.storage_key = p[2]->s;
  storage->tensor.dtype = p[1]->tensor.dtype;
  storage->tensor.storage_numel = p[4]->i;
  stack_.push_back(std::move(storage));
  return absl::OkStatus();
}

absl::StatusOr<Ref> Unpickler::Run() {
  while (true) {
    op_pos_ = pos_;
    RIB_ASSIGN_OR_RETURN(const uint64_t op, ReadUint(1));
    switch (op) {
      case 0x80: {  // PROTO
        RIB_ASSIGN_OR_RETURN(const uint64_t proto, ReadUint(1));
        if (proto < 2 || proto > 5) return Error(absl::StrCat("pickle protocol ", proto));
        break;
      }
      case 0x95:  // FRAME: a length hint only
        RIB_RETURN_IF_ERROR(ReadUint(8).status());
        break;
      case '.': {  // STOP
        RIB_ASSIGN_OR_RETURN(Ref top, Pop());
        if (!stack_.empty() || !marks_.empty())
          return Error("objects left on the stack at STOP");
        return top;
      }
      case '(':
        marks_.push_back(stack_.size());
        break;  // MARK
      case '0':
        RIB_RETURN_IF_ERROR(Pop().status());
        break;  // POP
      case '1':
        RIB_RETURN_IF_ERROR(PopToMark().status());
        break;   // POP_MARK
      case '2':  // DUP
        if (stack_.size() <= Floor()) return Error("DUP of an empty stack");
        stack_.push_back(stack_.back());
        break;
      case 'N':
        Push(Kind::kNone);
        break;
      case 0x88:  // NEWTRUE
      case 0x89:  // NEWFALSE
        Push(Kind::kBool);
        stack_.back()->i = op == 0x88;
        break;
      case 'J': {  // BININT: signed 32 bits
        RIB_ASSIGN_OR_RETURN(const uint64_t v, ReadUint(4));
        Push(Kind::kInt);
        stack_.back()->i = static_cast<int32_t>(static_cast<uint32_t>(v));
        break;
      }
      case 'K':    // BININT1
      case 'M': {  // BININT2
        RIB_ASSIGN_OR_RETURN(const uint64_t v, ReadUint(op == 'K' ? 1 : 2));
        Push(Kind::kInt);
        stack_.back()->i = static_cast<int64_t>(v);
        break;
      }
      case 0x8a: {  // LONG1: n little-endian two's-complement bytes
        RIB_ASSIGN_OR_RETURN(const uint64_t n, ReadUint(1));
        if (n > 8) return Error("integer wider than 64 bits");
        RIB_ASSIGN_OR_RETURN(uint64_t v, ReadUint(n));
        if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);
        Push(Kind::kInt);
        stack_.back()->i = static_cast<int64_t>(v);
        break;
      }
      case 'G':  // BINFLOAT: 8 bytes; the value is never needed
        RIB_RETURN_IF_ERROR(ReadUint(8).status());
        Push(Kind::kFloat);
        break;
      case 'X':     // BINUNICODE
      case 0x8c:    // SHORT_BINUNICODE
      case 0x8d: {  // BINUNICODE8
        RIB_ASSIGN_OR_RETURN(const uint64_t n, ReadUint(op == 'X'    ? 4
                                                        : op == 0x8c ? 1
                                                                     : 8));
        RIB_ASSIGN_OR_RETURN(std::string s, ReadBytes(n));
        Push(Kind::kString);
        stack_.back()->s = std::move(s);
        break;
      }
      case ')':
        RIB_RETURN_IF_ERROR(MakeTuple({}));
        break;     // EMPTY_TUPLE
      case 't': {  // TUPLE
        RIB_ASSIGN_OR_RETURN(std::vector<Ref> items, PopToMark());
        RIB_RETURN_IF_ERROR(MakeTuple(std::move(items)));
        break;
      }
      case 0x85:    // TUPLE1
      case 0x86:    // TUPLE2
      case 0x87: {  // TUPLE3
        std::vector<Ref> items(op - 0x84);
        for (size_t k = items.size(); k-- > 0;) {
          RIB_ASSIGN_OR_RETURN(items[k], Pop());
        }
        RIB_RETURN_IF_ERROR(MakeTuple(std::move(items)));
        break;
      }
      case ']':
        Push(Kind::kList);
        break;  // EMPTY_LIST
      case '}':
        Push(Kind::kDict);
        break;     // EMPTY_DICT
      case 'a': {  // APPEND
        RIB_ASSIGN_OR_RETURN(Ref v, Pop());
        RIB_RETURN_IF_ERROR(Appends({v}));
        break;
      }
      case 'e': {  // APPENDS
        RIB_ASSIGN_OR_RETURN(std::vector<Ref> values, PopToMark());
        RIB_RETURN_IF_ERROR(Appends(std::move(values)));
        break;
      }
      case 's': {  // SETITEM
        RIB_ASSIGN_OR_RETURN(Ref v, Pop());
        RIB_ASSIGN_OR_RETURN(Ref k, Pop());
        RIB_RETURN_IF_ERROR(SetItems({k, v}));
        break;
      }
      case 'u': {  // SETITEMS
        RIB_ASSIGN_OR_RETURN(std::vector<Ref> kv, PopToMark());
        RIB_RETURN_IF_ERROR(SetItems(std::move(kv)));
        break;
      }
      case 'q':    // BINPUT
      case 'r': {  // LONG_BINPUT
        RIB_ASSIGN_OR_RETURN(const uint64_t index, ReadUint(op == 'q' ? 1 : 4));
        RIB_RETURN_IF_ERROR(Memoize(index));
        break;
      }
      case 0x94:
        RIB_RETURN_IF_ERROR(Memoize(memo_.size()));
        break;     // MEMOIZE
      case 'h':    // BINGET
      case 'j': {  // LONG_BINGET
        RIB_ASSIGN_OR_RETURN(const uint64_t index, ReadUint(op == 'h' ? 1 : 4));
        RIB_RETURN_IF_ERROR(Recall(index));
        break;
      }
      case 'c': {  // GLOBAL "module\nname\n"
        RIB_ASSIGN_OR_RETURN(const std::string module, ReadLine());
        RIB_ASSIGN_OR_RETURN(const std::string name, ReadLine());
        RIB_RETURN_IF_ERROR(Global(module, name));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        RIB_ASSIGN_OR_RETURN(Ref name, Pop());
        RIB_ASSIGN_OR_RETURN(Ref module, Pop());
        if (module->kind != Kind::kString || name->kind != Kind::kString) {
          return Error("STACK_GLOBAL of non-strings");
        }
        RIB_RETURN_IF_ERROR(Global(module->s, name->s));
        break;
      }
      case 'R':
        RIB_RETURN_IF_ERROR(Reduce());
        break;
      case 'b':
        RIB_RETURN_IF_ERROR(Build());
        break;
      case 'Q':
        RIB_RETURN_IF_ERROR(PersistentLoad());
        break;  // BINPERSID
      case 'i':
        return Error("opcode INST (refused: it calls a global)");
      case 'o':
        return Error("opcode OBJ (refused: it calls a global)");
      case 0x81:
        return Error("opcode NEWOBJ (refused: it calls a global)");
      case 0x92:
        return Error("opcode NEWOBJ_EX (refused: it calls a global)");
      case 0x82:
      case 0x83:
      case 0x84:
        return Error("opcode EXT (refused: extension registry)");
      default:
        return Error(
            absl::StrCat("opcode 0x", absl::Hex(op), " is not used by a state_dict"));
    }
  }
}

}  // namespace

int64_t StorageElementSize(StorageDtype dtype) {
  switch (dtype) {
    case StorageDtype::kDouble:
    case StorageDtype::kLong:
      return 8;
    case StorageDtype::kFloat:
    case StorageDtype::kInt:
      return 4;
    case StorageDtype::kHalf:
    case StorageDtype::kBFloat16:
    case StorageDtype::kShort:
      return 2;
    case StorageDtype::kChar:
    case StorageDtype::kByte:
    case StorageDtype::kBool:
      return 1;
  }
  return 1;
}

absl::StatusOr<std::vector<std::pair<std::string, PickledTensor>>> ParseStateDictPickle(
    std::string_view data) {
  Unpickler unpickler(data);
  RIB_ASSIGN_OR_RETURN(Ref top, unpickler.Run());
  if (top->kind != Kind::kOrderedDict && top->kind != Kind::kDict) {
    return absl::InvalidArgumentError(
        absl::StrCat("data.pkl: holds a ", KindName(top->kind),
                     ", not a state_dict (a dict of tensors)"));
  }
  std::vector<std::pair<std::string, PickledTensor>> out;
  std::set<std::string> seen;
  for (const auto& [key, value] : top->entries) {
    if (key->kind != Kind::kString) {
      return absl::InvalidArgumentError(
          absl::StrCat("data.pkl: a state_dict key is a ", KindName(key->kind)));
    }
    if (value->kind != Kind::kTensor) {
      return absl::InvalidArgumentError(absl::StrCat("data.pkl: entry '", key->s,
                                                     "' is a ", KindName(value->kind),
                                                     ", not a tensor"));
    }
    if (!seen.insert(key->s).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("data.pkl: entry '", key->s, "' twice"));
    }
    out.emplace_back(key->s, value->tensor);
  }
  return out;
}

}  // namespace rib::engine
