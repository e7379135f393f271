// The feature fold: one piece of code that turns the time-ordered event stream into feature
// values, used both online (events update state as they arrive; requests read it) and offline
// (the dataset builder replays history and reads each row's features *before* applying the
// row's own event). Training-serving skew is then impossible by construction: there is only
// one implementation (docs/design.md, principle 1).
//
//   FUNNEL_ASSIGN_OR_RETURN(auto fold, FeatureFold::Create(DefaultFeatureSpecs(), &store));
//   store.Replay(Timestamp::Min(), t, [&](const store::StoredEvent& e) { fold->Apply(e); return true; });
//   std::vector<float> x(fold->names().size());
//   fold->Compute(user, item, t, x);   // as of t; NaN marks a missing value
//
// State per entity: decayed aggregates keep (value, time of last update) and decay lazily, so
// an update or a read costs O(features of that entity), whatever the history length.
// Time is an argument: nothing here reads the clock. An event older than its entity's last
// update is folded in as if it happened at that last update (replays are in time order, so
// this only affects late online events, and identically on every path).
//
// Persistence (the online store, online_store.h): the state is a set of entity records (a
// user, an item with its metadata, a user x category, a user x creator, the global row), each
// encoded under a key naming the entity by its string ids, so any process can read any record.
// DrainChanges() hands out the records touched since the last drain; Restore() loads one. The
// format is in docs/formats/online-features.md.
//
// Thread-safety: Apply/ApplyTo/Upsert*/Restore/DrainChanges/Clear need exclusive access; Compute,
// ComputeReference, LastItems and the key helpers may run concurrently with each other but not
// with writers.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "funnel/core/ids.h"
#include "funnel/core/status.h"
#include "funnel/core/time.h"
#include "funnel/events/event.h"
#include "funnel/features/feature_spec.h"
#include "funnel/store/event_store.h"

namespace funnel::features {

// Maps the string ids inside records to the indexes of the fold that restores them.
struct EntityResolver {
  std::function<std::optional<UserIdx>(std::string_view)> user;
  std::function<std::optional<ItemIdx>(std::string_view)> item;
};

using RecordFn = std::function<void(std::string_view key, std::string_view value)>;

class FeatureFold {
 public:
  // An attached fold: events and ids come from `store`, which must outlive the fold. Item
  // metadata and user attributes are loaded from it now.
  static StatusOr<std::unique_ptr<FeatureFold>> Create(std::vector<FeatureSpec> specs,
                                                       const store::EventStore* store);
  // A detached fold, for processes without the event store (a server replica reading a shared
  // online store): it only Restore()s records under indexes its caller chooses, and Computes.
  static StatusOr<std::unique_ptr<FeatureFold>> CreateDetached(std::vector<FeatureSpec> specs);
  virtual ~FeatureFold() = default;

  // Folds one event into the state (attached folds only).
  virtual void Apply(const store::StoredEvent& event) = 0;
  // Folds one event into some of the rows it feeds, for a point-in-time read that needs only a
  // few entities: always the global row; the user's rows (user, user x category, user x
  // creator, the user's last_n) only when `user_rows`; the item's rows (item, the item's
  // last_n) only when `item_rows`. The rows it does fold end exactly as Apply leaves them.
  virtual void ApplyTo(const store::StoredEvent& event, bool user_rows, bool item_rows) = 0;
  // Metadata that arrives after creation (item upserts, new user attributes). UpsertItem
  // returns whether what folding reads (categories, creator, duration) changed: events of the
  // item folded before then were folded under the old values.
  virtual bool UpsertItem(ItemIdx item, const events::Item& meta) = 0;
  virtual void UpsertUser(UserIdx user, const events::User& meta) = 0;

  // Names of the numeric features, in the order Compute writes them.
  virtual const std::vector<std::string>& names() const = 0;
  // Whether some feature folds events into the global row (its value then depends on every
  // event), and into item rows (it depends on every event of the item).
  virtual bool HasGlobalState() const = 0;
  virtual bool HasItemState() const = 0;
  // The feature vector of (user, item) as of t; out.size() must equal names().size().
  // Unknown indexes (never seen) give every feature its "no state" value.
  virtual void Compute(UserIdx user, ItemIdx item, Timestamp t, std::span<float> out) const = 0;
  // The same values, evaluated one feature at a time with no sharing between features: the
  // simple twin Compute is tested against (bit for bit). Slower; not for production paths.
  virtual void ComputeReference(UserIdx user, ItemIdx item, Timestamp t, std::span<float> out) const = 0;
  // The items kept by a last_n feature, newest first; empty when unknown.
  virtual std::vector<ItemIdx> LastItems(UserIdx user, std::string_view feature) const = 0;
  // Names of the last_n features.
  virtual std::vector<std::string> LastNFeatures() const = 0;

  // Bytes of feature state held in memory (for capacity planning).
  virtual size_t StateBytes() const = 0;

  // ---- persistence ----
  // A hash of the compiled feature definitions: records written under another one are refused.
  virtual uint64_t LayoutHash() const = 0;
  // Hands out every record changed since the last drain (attached folds), and forgets them.
  virtual void DrainChanges(const RecordFn& fn) = 0;
  // Loads one record. Unknown ids (the resolver answers nullopt) are skipped; a record of
  // another layout or a malformed one is an error naming the key.
  virtual Status Restore(std::string_view key, std::string_view value, const EntityResolver& ids) = 0;
  // Forgets every entity's state (detached folds reuse themselves across requests).
  virtual void Clear() = 0;

  // Record keys of the entities a (user, item) feature vector reads beyond the user, item and
  // global records: the user x category and user x creator records for the item's metadata
  // (known once the item's record is restored). Appends to *keys.
  virtual void CrossKeys(std::string_view user_id, ItemIdx item, std::vector<std::string>* keys) const = 0;
};

// The code a categorical string is computed as (a stable 24-bit hash, exact in a float).
double CategoricalCode(std::string_view value);
// The string a categorical static feature encodes for this item or user: item.category's first
// category, item.creator, or a string-valued item.attribute.<key> / user.attribute.<key>.
// nullopt when the feature is not static, the metadata is absent (null) or the value is not a
// string (a number or boolean is its own value). Compute's value is then
// CategoricalCode(*text), for metadata as the fold holds it. The code cannot be inverted, so
// output meant for people looks the string up here (`funnel features`).
std::optional<std::string> StaticFeatureText(const FeatureSpec& f, const events::Item* item,
                                             const events::User* user);

// Record keys of the entities every feature vector reads.
std::string UserRecordKey(std::string_view user_id);
std::string ItemRecordKey(std::string_view item_id);
std::string GlobalRecordKey();

}  // namespace funnel::features
