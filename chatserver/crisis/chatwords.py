"""How often words turn up in everyday chat, so that the pattern index anchors each pattern on the
required word ordinary messages hold least (an anchor found costs a look at its patterns).

`seen(anchors)` counts, over the everyday and figurative lines of the corpus and the training lines
(`tests/data/crisis`, `tests/data/crisis_train`; never the held-out set), the lines holding one of
the anchors: a whole word, or for a stem a word starting with it. Only a ranking: a word missing
here is taken as rare, and a wrong count costs speed, never a finding (any required word is a sound
anchor). Regenerate after the training lines change: `python -m chatserver.crisis.chatwords`.
"""

from __future__ import annotations

import json
import re
import sys
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from functools import cache
from pathlib import Path

#: Words seen in fewer lines are left out (as rare).
AT_LEAST = 3
_BEGIN, _END = "# counts: begin\n", "# counts: end\n"

# counts: begin
_DATA = (
    "0:8 1:7 10:16 12:15 18:8 2:17 20:3 2025:7 24:3 2am:3 3:45 30:6 38:4 3am:5 3h:3 4:16 40:9 5:23 5-0:4 "
    "6:9 7:5 8:18 8h:3 90:10 92:3 a:662 ab:5 aber:22 abiamo:6 about:40 abroad:4 absolutely:5 abuela:7 "
    "abuelo:3 acabei:3 acabou:5 academia:3 acheve:5 acident:3 acordo:4 acount:5 actualy:14 ad:5 adeso:4 "
    "adieu:4 adio:3 af:8 afscheid:5 after:36 again:55 ages:3 ago:3 agora:11 aguanto:4 aguento:6 ahah:14 "
    "ahahah:4 ahora:6 ai:99 aide:8 ajudou:3 aku:4 al:120 ala:18 alcohol:4 ale:13 alemal:12 alen:6 aler:3 "
    "ales:17 algo:8 alguem:26 alguien:24 alguma:4 alivio:4 alma:4 alone:6 already:5 als:27 alten:6 "
    "altijd:4 altra:3 always:4 am:19 amanha:14 amaza:9 amazato:4 amazing:5 amazo:3 an:61 anche:5 ancora:5 "
    "and:101 andata:4 anders:4 andiamo:3 anestesiada:4 anfitria:5 anfitriao:4 angst:9 ani:6 animatrice:5 "
    "aniversario:3 ano:17 anos:14 another:5 anoying:4 ans:14 ansia:5 ansiedad:5 ansiedade:5 antes:11 "
    "antidepresants:3 antidepresiva:3 antidepresivo:5 anxiety:10 anxious:3 any:7 anymore:5 anyone:46 "
    "anyones:4 anything:5 ao:3 ap:11 apart:3 apartamento:3 apele:3 apointment:4 apoio:3 apothek:5 "
    "apotheke:4 apres:8 aqui:20 arbeit:9 are:46 arete:3 around:7 arts:3 arzt:4 as:21 ashes:3 ask:3 "
    "asking:7 at:95 atack:10 ate:13 atende:3 atrasada:3 au:32 auch:4 audio:3 auf:32 augmente:3 aujourd:33 "
    "aujourdhui:33 aula:6 aumentato:3 aus:24 ausi:3 auto:8 aux:4 avais:3 avait:3 avant:8 avec:26 aveva:4 "
    "avez:4 avo:8 avoir:9 away:19 awful:4 ayer:7 ayuda:5 baby:10 back:37 bad:8 baixo:5 bake:3 balcony:3 "
    "bald:3 bank:10 bas:6 bateria:13 baterie:4 batery:5 bath:3 baustele:3 be:41 beach:4 bebe:6 beber:3 "
    "because:6 bed:19 bedankt:3 before:22 begrafenis:4 bei:14 beim:15 being:5 bele:4 belisima:4 bem:18 "
    "ben:83 bene:14 benisimo:3 bent:7 berdigung:5 beser:6 besoin:4 best:8 beste:4 bet:3 beter:22 bici:3 "
    "bien:38 big:3 bij:22 bijna:6 bike:3 bil:3 bin:66 birthday:7 bis:12 bit:19 blod:5 blunt:3 boa:9 "
    "body:4 boek:5 boite:3 bok:7 boked:5 bolo:3 bom:11 bon:3 bone:9 bonjour:4 bored:4 bos:27 bought:7 "
    "boulot:10 bout:3 boxes:3 brain:9 breathing:5 bridge:14 brief:6 bringen:3 bringt:23 broke:5 "
    "brother:11 brucke:6 brug:6 brule:5 brutal:6 buch:4 buenas:6 bueno:5 buenos:3 building:3 buonanote:5 "
    "buongiorno:3 burden:7 burned:3 bury:3 bus:17 but:56 buto:6 by:18 bye:8 c:34 ca:42 cabeca:5 cabelo:5 "
    "cabeza:3 cachet:3 cachoro:3 cada:6 cafe:15 caixa:3 cake:4 cal:12 caldo:7 caled:6 calor:16 cama:6 "
    "came:8 caminar:3 can:24 canal:3 canape:3 canceled:3 cancer:9 cancion:5 cane:4 cansaco:3 cansada:8 "
    "cant:19 canzone:4 capeli:4 capo:5 car:15 cara:4 care:6 caritas:4 caro:4 carta:8 casa:20 casi:8 "
    "cat:13 causa:3 cause:3 cayo:4 ce:54 cebola:5 cedo:6 celular:12 cest:25 cet:5 cetait:4 cete:21 "
    "chaleur:4 chanson:4 character:5 charger:3 charity:4 chat:20 chaud:3 che:45 chef:7 chefe:8 cheguei:5 "
    "chest:3 chez:9 chiamato:3 chien:3 childhod:3 chocolate:3 choping:5 chorei:6 christmas:11 chu:5 "
    "chuva:3 ci:12 ciao:5 cidade:4 cima:3 cita:5 citalopram:8 clas:3 clase:4 clean:3 clear:3 clif:4 "
    "closed:3 clothes:8 club:4 cofe:12 coisa:6 coking:4 col:8 cold:8 colega:5 colegas:3 colpo:3 com:46 "
    "come:16 comentario:3 comes:4 comigo:6 como:15 comprei:8 comute:5 con:68 conseils:3 consigli:3 "
    "consulta:3 conta:4 contente:4 coracao:3 corda:4 corte:6 cortei:6 corto:3 cosa:7 cosi:7 could:19 "
    "counselor:5 coupant:3 coupe:8 crawl:4 creve:6 crever:3 cried:5 crise:7 crisis:4 crocs:7 cry:5 "
    "crying:10 cuando:10 cuanto:3 cuchilo:3 cumple:3 curo:4 cut:15 cuting:5 cv:3 d:55 da:102 dad:19 "
    "dads:6 dag:12 dagen:6 dal:12 dala:10 dan:8 dank:7 danke:13 dans:27 dar:4 dark:6 das:62 dat:34 data:4 "
    "date:14 dato:3 daumen:4 davoir:3 day:48 days:13 de:617 dead:45 deadline:4 death:20 deceased:7 "
    "decision:6 declutering:3 dedo:5 dei:7 deixei:3 deja:4 deje:3 dejo:4 del:60 dela:17 deleted:4 dem:27 "
    "demain:10 demenage:3 demenagement:5 den:34 denkt:5 dentista:4 dentro:3 denvie:3 depois:7 depresao:5 "
    "depresie:5 depresion:26 depresione:6 depuis:8 der:71 dernier:7 derubou:3 des:27 desaparecer:3 "
    "desastre:3 desde:5 despedi:6 despido:4 despues:7 destroyed:7 destrozo:3 deto:3 detox:3 deu:5 deuil:3 "
    "deux:6 devant:3 devo:4 deze:24 di:95 dia:39 dias:18 dica:3 dice:8 dich:4 did:11 didn:5 didnt:8 "
    "die:163 died:37 dies:3 diese:8 dieses:3 diet:6 dieta:4 dificil:10 dificile:3 dijo:3 dimanche:3 "
    "diner:8 dir:3 dire:4 dis:3 disapear:7 disparaitre:6 distruta:7 distruto:3 dit:25 dito:3 do:85 "
    "doando:4 doctor:11 dod:63 dodgegan:3 doe:3 doei:4 doen:6 does:13 doesn:4 doesnt:5 dog:14 doing:8 "
    "dois:4 dolor:3 domani:10 domenica:4 domingo:4 don:18 done:38 dont:20 dopo:11 dor:14 dormi:7 "
    "dormir:26 dormire:7 dormito:3 dos:10 dose:14 dosis:16 down:15 dreh:3 drei:5 drie:6 drink:5 driving:5 "
    "drowning:7 du:30 duas:3 dubel:3 due:8 duelo:3 dun:3 dur:5 dura:5 durch:5 during:3 dying:26 e:156 "
    "early:6 eat:3 echt:20 ecoute:3 ecrit:5 ein:26 eind:4 einde:3 eindelijk:9 eine:18 einem:3 einen:3 "
    "einer:4 einfach:7 el:122 ela:5 ele:23 elke:4 else:14 eltern:4 em:22 email:7 emails:5 embarasment:4 "
    "emojieyerol:10 emojilaugh:67 emojiskul:18 emprego:4 en:228 encore:17 end:24 ende:6 ending:6 "
    "endlich:10 enfin:10 enterar:3 enterement:4 entero:3 entrevista:7 envie:7 episode:6 er:15 era:7 "
    "eran:3 ereichbar:3 erhoht:4 ero:5 erste:12 ersten:4 eruit:3 ervaring:4 es:33 esa:29 esame:8 esami:5 "
    "escitalopram:3 escribi:3 escrito:3 ese:31 esperando:5 espero:3 esqueci:3 est:73 esta:50 estaba:3 "
    "estamos:4 estan:5 estar:7 estas:3 este:26 estou:11 estoy:58 estudar:3 estuvo:3 et:20 etais:3 "
    "etait:11 ete:3 etre:3 eu:29 euch:7 eulogy:3 even:9 evening:5 ever:5 every:11 everyone:34 "
    "everything:17 ex:7 exam:15 examen:9 examenes:4 exams:9 exausta:3 excel:8 excited:3 exercise:4 "
    "exercises:3 exhausted:4 exhausting:4 extrano:3 fa:7 face:4 facio:4 faculdade:3 fai:3 faili:4 faire:4 "
    "fais:3 fait:24 fal:3 falar:3 faleceu:4 falta:8 fame:3 famile:4 familia:5 family:4 fare:5 farmacia:13 "
    "farmaco:3 fast:7 fatal:6 fatigue:5 fato:16 faut:5 faz:9 fazer:5 feira:4 fel:36 feling:18 feliz:3 "
    "fels:8 felt:4 fenetre:4 fenster:5 feriado:4 ferias:4 ferie:3 fertig:12 fery:3 fest:3 festa:5 fet:8 "
    "few:4 fez:5 fica:3 fico:3 ficou:5 fiera:3 fiere:5 fight:4 figlio:3 fila:7 file:3 filho:3 film:49 "
    "filme:8 fim:5 fin:13 final:17 finale:8 finalmente:15 finaly:24 finde:5 finds:3 fine:16 finestra:3 "
    "finger:7 fini:3 finir:3 finish:3 finished:10 fiquei:4 fire:3 first:24 fiz:8 flat:4 flatmate:4 "
    "flowers:3 fluoxetina:6 fluoxetine:4 focus:3 fod:4 foi:16 fois:5 fome:4 for:197 forever:3 forgot:4 "
    "fot:3 foto:7 fre:3 fredo:3 friday:9 fried:3 friend:9 friends:5 frio:7 from:25 fue:8 fuhl:7 fui:14 "
    "fuimos:3 ful:3 funciona:4 funeral:14 funerale:4 fur:30 fuse:3 future:5 futuro:9 ga:32 game:7 gan:6 "
    "ganas:4 ganze:4 ganzen:3 gat:17 gato:17 gave:15 gef:3 gegesen:4 geh:7 gehad:4 gehen:4 geht:6 gehts:9 "
    "gek:5 gekilt:4 gekocht:4 geleden:3 gelopen:3 gemacht:10 gemakt:4 gen:7 genial:3 genomen:14 gente:25 "
    "gesagt:4 geschaft:3 geschenkt:3 geschlafen:3 geschniten:5 geschreven:3 geschrieben:6 gesehen:3 "
    "geslapen:3 geslopt:4 gestern:8 gestorben:22 get:16 geting:8 geweint:3 gewest:3 gewon:5 geworden:3 "
    "gia:3 gimnasio:3 ging:9 gioco:3 giornata:8 giorni:4 giorno:8 gisteren:7 giu:4 give:5 giving:14 gli:6 "
    "go:18 god:23 godbye:16 godnight:3 goed:18 going:86 gona:15 gone:4 gorgeous:5 got:39 gp:10 grab:5 "
    "gracias:13 grad:12 gran:3 grand:10 grand-mere:6 grandad:6 grandads:3 grande:5 grandma:8 grapig:4 "
    "grateful:3 graus:3 grave:10 grazie:13 great:5 grey:4 grief:8 grieving:3 gris:4 groep:6 grond:4 "
    "group:18 groupe:9 grupe:4 grupo:34 guera:3 guitar:3 gut:18 gute:7 gym:12 ha:48 hab:92 haben:9 "
    "hace:11 hacer:3 haciendo:3 had:27 haha:19 hair:9 halfway:3 halo:3 hambre:3 hamster:7 hand:7 handy:8 "
    "hanging:6 hano:7 hapy:6 har:7 hard:16 hare:3 has:12 hasta:7 hat:45 hate:12 hauptfigur:3 have:31 "
    "having:6 hay:4 he:30 head:7 headache:5 heading:4 health:6 hear:4 heart:10 heat:6 heavy:3 heb:28 "
    "heben:6 heft:18 hel:4 hele:4 help:13 helped:7 helping:3 helpline:4 helps:5 helpt:3 hem:5 her:28 "
    "here:22 hermana:5 hes:7 het:90 heure:3 heut:9 heute:50 hi:6 hice:7 hier:36 hij:5 hike:3 hil:4 "
    "hilft:5 him:10 his:8 hit:3 hite:7 hitze:7 hj:4 ho:76 hoe:7 hofdperson:3 hofdpijn:3 hoje:58 hola:3 "
    "hole:4 holiday:12 home:15 homework:6 hond:4 honestly:15 honger:4 honte:5 hop:3 hope:6 hopeles:3 "
    "hor:4 hora:3 horas:10 horivel:5 horor:5 hororfilm:4 hospital:11 host:13 hot:4 hotel:7 hour:6 "
    "hours:14 house:7 how:18 hoy:50 hui:33 huis:4 huisarts:7 hund:3 hung:3 i:419 ich:152 ici:8 id:21 "
    "iederen:3 iemand:15 ieri:6 iets:5 if:49 ihn:4 ihr:12 ik:216 il:140 ils:3 im:231 imer:4 in:282 "
    "inbox:3 indo:5 infos:3 ins:4 insonia:3 insta:3 instagram:14 internet:3 interview:3 into:20 "
    "invisible:3 ir:5 irma:5 is:271 isnt:4 iso:5 ist:57 it:131 its:57 ive:21 j:113 ja:13 jahr:4 jahren:4 "
    "jai:90 jaja:14 jajaja:9 jajajaja:3 january:3 jar:10 javais:3 je:194 jefe:8 jemand:8 jen:4 jetais:3 "
    "jete:3 jetzt:9 jeu:3 jij:3 job:26 jogar:3 jogo:6 joke:5 jour:7 journe:9 jours:8 juego:3 julie:18 "
    "jump:4 jumping:4 june:4 jusqu:4 jusqua:3 just:47 juste:5 k:32 kafe:5 kan:16 kapot:14 kaput:3 "
    "karaoke:3 kat:7 katze:5 kein:3 keine:4 kep:7 keps:3 ker:8 kick:3 kids:12 kijken:3 kil:31 kiled:21 "
    "kiler:5 kiling:39 kind:3 kitchen:5 klamoten:4 klar:5 klausur:3 kleren:4 kms:17 kne:3 knife:6 "
    "knocked:3 know:17 kofie:3 kom:3 kont:6 krieg:3 kringlop:4 l:73 la:343 lach:4 lachen:7 lag:5 lago:4 "
    "lake:3 lang:3 langsam:4 laptop:17 las:33 lascio:3 lasen:4 last:50 lat:3 late:11 laten:5 later:5 "
    "latste:6 lauft:3 laughed:3 laughing:8 laundry:3 lavoro:14 le:167 leave:4 leaving:4 lecture:5 leds:3 "
    "left:8 leftovers:4 leg:3 lego:4 legs:6 leker:5 lendo:4 lenterement:4 ler:5 les:48 lesame:5 let:5 "
    "leter:9 letera:4 leters:4 leto:3 letre:4 letzte:5 leute:3 leve:3 level:3 levo:4 libro:8 lie:5 "
    "lieben:3 lied:4 liegt:3 liever:3 life:7 lig:5 lighter:3 ligt:4 like:25 linda:6 line:4 lis:3 lisboa:3 "
    "listening:3 lit:3 literaly:16 lithium:3 live:5 livro:6 lmao:6 lo:26 loads:3 lok:3 loking:3 lol:77 "
    "lonely:5 long:7 lore:4 los:24 lose:4 losing:3 lost:8 lot:5 love:6 lovely:6 low:7 luck:7 lugar:6 "
    "lui:5 lunch:4 lundi:8 lunedi:6 lunes:11 luto:6 lying:3 m:182 ma:87 mach:5 machen:3 machina:5 macht:4 "
    "made:15 madre:11 mae:12 mail:8 main:6 mais:44 maison:3 mak:5 make:7 maken:5 makes:9 makt:6 mal:33 "
    "male:3 mama:11 man:7 manager:3 manana:20 manca:5 mand:5 mandag:6 mande:3 mandei:4 mange:4 manha:6 "
    "mano:4 manque:4 many:6 mar:19 march:3 marche:3 mare:4 mariage:3 mas:42 masacre:5 mata:23 matado:4 "
    "matando:19 matar:31 mataria:3 match:5 mate:10 matei:8 maths:6 matin:9 matina:4 mato:9 matou:5 mdr:16 "
    "me:616 meal:3 medecin:8 medica:4 medicacion:4 medicijnen:3 medicine:6 medico:21 medis:3 meditation:3 "
    "medo:5 medocs:5 meds:23 meglio:6 mehr:10 meileure:3 mein:44 meine:44 meinem:8 meinen:13 meiner:10 "
    "meio:6 mejor:11 melatonin:4 melatonina:6 melatonine:5 melhor:8 meme:18 memes:3 memoire:3 mensen:3 "
    "mental:5 mentre:3 mer:14 mercado:3 merci:11 mere:16 mes:34 mesage:7 mese:6 met:31 meting:18 metro:5 "
    "meu:57 meurs:11 meus:8 mg:7 mi:207 mia:32 mich:78 mid:3 miedo:3 miei:4 mieux:7 mijn:109 mim:4 mine:3 "
    "minha:54 minhas:5 mins:3 minuten:3 minutes:3 minutos:3 mio:34 mir:26 mis:22 misery:3 mit:23 miten:3 "
    "mn:27 mod:3 moderador:3 moderadora:7 moderator:13 moderatore:3 moderatorin:5 moderatrice:7 moeder:8 "
    "moet:8 moi:17 mois:5 moment:4 mon:74 monat:5 monday:9 monde:7 mont:4 montag:7 month:11 months:8 "
    "morden:6 more:25 morendo:24 morer:12 moreu:18 morgen:27 mori:24 morir:7 morire:20 morning:18 moro:7 "
    "mort:24 morta:27 morte:20 morti:3 morto:24 motivo:3 mourir:15 move:9 moved:5 movil:3 moving:12 "
    "much:10 mucho:6 mudanca:3 mudanza:4 mudar:5 mude:5 mudo:5 muero:27 muerta:13 muerte:3 muerto:6 "
    "muito:14 mum:29 mums:9 muoio:15 murder:9 murdered:5 muriendo:3 murio:16 mus:7 musica:5 muste:3 "
    "muter:8 muy:8 my:513 myself:18 n:28 na:41 nach:11 nachrichten:3 nachste:3 nacht:12 nada:17 name:3 "
    "nan:7 nao:24 nap:4 nar:24 nas:4 ne:11 nearly:13 necesito:4 ned:23 neded:3 neighbours:3 nel:11 nem:4 "
    "nemen:4 nen:8 nephew:5 nervous:7 nese:7 netflix:5 neu:5 neuen:4 never:9 new:37 news:4 next:12 nice:6 "
    "nicht:18 niente:6 niet:25 nieuwe:3 nieuws:3 night:35 nights:5 niks:6 nimt:4 ninguem:4 nix:3 no:125 "
    "nobody:5 noch:23 noche:12 noches:7 nochmal:4 nog:19 noite:12 non:25 nona:7 nono:4 normal:15 "
    "normale:3 nos:5 not:14 note:5 notebok:3 nothing:5 notice:3 nouveau:4 nouvele:3 nova:5 novela:6 "
    "novo:16 now:43 nu:8 nueva:4 nuit:9 nul:3 nule:3 num:3 numb:3 numeros:3 nuova:3 nuovo:8 nur:9 nurse:3 "
    "o:106 obrigada:9 of:156 ofice:7 ofline:6 ogi:40 ogni:4 oh:3 ohne:12 ok:31 okay:5 oke:3 old:24 om:21 "
    "oma:12 on:148 one:32 onibus:3 onions:5 ont:5 ontem:10 op:51 opa:8 or:5 ora:5 oral:4 ordi:3 ore:6 "
    "orgulho:4 orgulosa:5 os:8 otimo:3 otra:15 otro:3 ou:8 oublie:4 oude:8 our:6 out:48 outra:3 oven:4 "
    "over:27 overdosed:4 overled:3 overleden:4 padre:6 pai:7 pain:3 pale:3 palestra:5 panic:7 panico:3 "
    "papa:11 par:18 para:27 paracetamol:5 parenting:3 parents:11 park:5 parking:3 parlato:4 parle:5 "
    "pars:3 part:10 parte:3 partiel:3 partir:3 partiu:3 party:11 pas:26 pasa:4 pasada:3 pasado:5 pase:6 "
    "pased:10 pasei:3 paso:4 pasou:4 past:5 pastiglia:3 pastila:3 pastilas:7 paura:3 pausa:3 pause:5 "
    "peace:3 peau:4 peli:10 pelo:8 pendant:5 pensa:3 pensando:3 people:6 per:57 perdon:4 pere:8 pero:22 "
    "perso:4 person:7 persona:4 personagem:4 persone:4 pes:3 pesada:9 pesado:4 pesante:5 peso:6 peur:6 "
    "pharmacie:4 pharmacy:6 phone:17 piano:5 pianta:3 pianto:4 picando:4 piedi:6 pieds:5 pies:3 pil:6 "
    "pilen:4 pils:8 pin:3 pineaple:3 piscina:4 piso:3 piu:14 piza:26 place:5 plan:17 plano:3 plant:7 "
    "planta:5 plantas:5 plante:3 plants:6 plate:3 playlist:6 plein:3 pleure:6 pls:3 plus:22 po:3 poco:6 "
    "point:4 pont:8 ponte:18 por:71 poso:6 post:5 posto:3 pour:42 pq:4 pqp:3 pra:53 praia:6 preciso:10 "
    "premier:4 prende:3 prenez:3 pres:3 prescription:4 presentation:6 preso:10 presto:3 prete:3 prima:9 "
    "primeira:3 primeiro:3 primera:5 primo:6 printer:6 pris:9 pro:17 prof:10 profe:3 project:4 pronta:3 "
    "proper:5 proprio:3 protagonista:6 proud:5 prova:9 provas:4 prufung:3 psichiatra:4 psicologa:19 "
    "psiquiatra:8 psy:12 psychiater:6 psychiatre:3 psychiatrist:4 psycholog:5 puedo:4 puente:7 pular:4 "
    "put:9 q:34 qn:6 qu:4 qualche:3 qualcosa:3 qualcuno:16 quand:11 quando:21 quanto:6 quase:11 quasi:3 "
    "que:144 queimei:3 quel:8 quele:3 quelqu:9 quelques:4 quelqun:9 quem:5 quer:6 queria:6 quero:8 "
    "questa:12 questo:18 quetiapina:3 queue:6 qui:19 quiere:4 quiero:8 quiet:5 quit:3 quoi:3 rain:4 ram:3 "
    "ran:7 ranked:6 rather:7 rdv:4 re:16 reading:4 ready:6 realy:14 redes:3 regalato:4 regale:4 regalo:7 "
    "remedio:16 remedios:6 remember:4 repeat:3 respirazione:3 results:5 retard:4 reuniao:6 reunion:9 "
    "reviens:3 revoir:7 ridere:6 rien:6 right:7 ring:3 rio:4 rip:10 rir:11 rire:9 risa:9 ritardo:5 "
    "riunione:5 river:3 road:3 rof:6 rom:9 roma:3 ropa:7 rope:7 rough:4 roupa:3 roupas:3 rouw:3 run:3 "
    "runing:5 s:107 sa:5 sabado:3 sabe:7 sad:10 safe:3 sagt:3 said:21 sair:7 sale:6 salio:3 salut:4 "
    "salutato:3 saluto:3 salva:3 sans:10 saturday:4 saudade:8 saude:4 saw:7 say:7 saying:8 says:9 "
    "scared:5 scatered:3 scene:5 scham:5 schamte:4 schau:3 schlafen:7 schlim:4 schol:12 schon:14 schref:3 "
    "schrok:3 schwer:5 schwester:4 scorso:3 scriptie:3 scrito:6 scusate:3 se:114 sea:4 seance:4 season:6 "
    "seduta:3 segunda:6 sehen:3 sehr:3 sei:5 sein:6 seit:9 sel:3 self:6 sem:13 semaine:15 semaines:4 "
    "semana:40 semanas:4 semestre:4 sempre:10 send:6 sending:3 sens:7 sent:5 senti:3 sentir:4 sento:8 "
    "senza:8 ser:5 sera:5 serai:4 serial:3 serie:21 serio:3 sertralina:13 sertraline:14 serve:4 ses:8 "
    "sesion:4 sest:6 setimana:15 seul:3 sharing:3 she:31 shes:4 shift:14 shop:7 short:3 shot:12 should:5 "
    "show:4 si:37 siamo:3 sich:7 sie:14 sieht:6 siento:9 signal:3 sin:12 since:10 sind:8 sinto:11 "
    "sister:13 sit:5 siting:5 sitz:3 six:3 slap:5 slapen:8 slaps:3 slecht:3 slep:27 sleping:6 slept:5 "
    "slow:3 slowly:7 smal:9 snacks:4 snijden:4 so:137 sobre:11 sobrino:3 social:4 soeur:5 sofa:11 soir:13 "
    "soire:6 sol:6 sola:7 solo:14 some:9 someone:9 something:3 sometimes:3 son:14 song:11 sono:88 sont:6 "
    "sopa:4 sorela:5 sorted:3 sory:13 sou:4 soul:4 sous:8 soy:4 sozinha:4 spater:4 spel:3 spiel:3 sport:5 "
    "sportschol:3 spreadshet:5 spring:7 sta:15 stamatina:3 stanca:3 stano:4 start:7 started:5 stasera:10 "
    "stat:3 station:4 stato:6 staying:4 steh:3 sterb:4 sterbe:12 sterben:6 sterf:8 steso:3 stil:9 sto:27 "
    "stockpiling:3 stolz:5 stop:7 strugling:4 stuck:5 stuf:4 stunden:5 subio:3 such:7 sueno:5 sugar:3 "
    "sugested:3 suicida:3 suicide:14 suicidio:7 suis:56 sul:15 sula:3 sule:3 sumir:10 sun:3 sunday:5 "
    "sunset:3 super:8 suport:3 suporte:3 sur:22 suspense:6 susto:6 sveglia:3 swear:3 t:56 ta:37 tabele:3 "
    "tableten:8 tablets:3 tag:13 tage:8 tagliata:5 take:14 taking:4 tal:3 talk:5 talking:4 tan:6 tanta:3 "
    "tante:5 tanto:6 tao:12 tarde:8 tato:6 tava:3 tbh:3 tchau:3 te:46 tea:9 teacher:7 team:6 tegen:5 "
    "tel:8 telefon:5 telefono:10 telement:5 telephone:5 tem:7 tempo:8 temprano:3 temps:6 tengo:13 tenho:6 "
    "tenia:4 tentamen:4 tentamens:4 ter:3 terapeuta:4 terapia:36 tere:4 terible:3 terminar:3 termine:3 "
    "teror:4 terug:6 tesis:3 test:8 testament:3 testamento:3 text:5 than:10 thank:8 thanks:12 that:94 "
    "thats:7 the:446 their:3 them:10 therapeut:3 therapeutin:5 therapie:21 therapist:13 therapy:11 "
    "there:8 these:4 they:12 theyre:4 thing:4 things:3 think:6 thinking:3 third:4 this:159 thoughts:5 "
    "thre:4 thread:4 through:17 throw:4 ti:6 tia:4 tiempo:3 tiene:6 tiera:4 tijd:3 tiktok:3 til:6 time:36 "
    "tinha:3 tio:4 tip:3 tips:12 tired:17 tiro:9 to:392 toast:3 tod:3 toda:10 today:87 tode:4 todler:3 "
    "todmude:3 todo:18 todos:19 toen:5 tok:15 told:3 toma:5 tomando:3 tomar:7 tombe:3 tomber:3 tome:7 "
    "tomei:11 tomorow:28 tonight:24 tonights:3 top:8 tore:4 tot:32 total:7 tous:5 tout:17 toute:5 tower:3 "
    "trabajo:7 trabalhar:3 trabalho:11 trafic:6 trafico:5 train:11 training:3 traitement:6 trampo:5 "
    "transito:5 trasloco:7 trauer:3 traurig:6 traverse:3 tre:8 trein:6 treno:3 tres:18 tried:6 trip:4 "
    "triste:23 tristeza:4 trois:6 trop:18 tropo:3 trots:4 truc:3 trying:7 tschus:3 tu:11 tudo:14 tue:19 "
    "tuent:3 tuer:17 tuerais:3 turno:3 tuta:3 tuti:12 tuto:10 twe:6 two:12 uber:10 ucide:6 ucidendo:4 "
    "uciderei:3 uciso:4 ugh:8 uhr:3 uien:3 uit:14 ultima:12 ultimo:6 um:82 uma:29 umzug:7 un:143 una:57 "
    "unaltra:3 und:35 under:4 une:37 uni:7 uno:5 unos:3 uns:8 up:36 uped:4 ur:12 urlaub:6 us:5 used:5 "
    "ustedes:3 va:50 vacaciones:8 vacances:6 vacanze:4 vader:6 vado:10 vai:20 vais:21 vakantie:5 vamos:8 "
    "van:64 vanavond:5 vandag:41 vanochtend:4 vc:3 ve:25 veces:6 vechi:3 vechio:3 vel:4 vem:5 vemos:3 "
    "vendo:4 vendredi:3 vent:3 ventana:3 veo:3 ver:14 vera:3 verabschiede:3 verabschiedet:4 verdad:4 "
    "verdrietig:6 vergadering:5 vergesen:4 vergeten:3 vergogna:3 vergonha:7 verguenza:8 verhogd:3 "
    "verhuizing:4 vermis:3 vermord:3 vermordt:6 vestiti:5 vetements:4 veut:4 veux:5 vez:17 vezes:6 vi:11 "
    "via:3 viajar:3 viaje:3 vicino:4 vida:4 video:8 vieja:4 viejos:3 viel:10 viene:4 vieux:4 vinger:3 "
    "visiting:4 vista:4 visto:5 vitoria:3 vizinho:3 vo:7 voce:4 voces:10 voel:7 voglia:3 voglio:4 voi:7 "
    "voir:4 vois:3 voiture:4 vol:6 volgende:3 volta:4 voltar:5 volte:5 volto:3 vom:10 von:21 vontade:5 "
    "vor:60 vorei:3 vou:53 vous:22 voy:25 vuelvo:7 vuole:3 wachten:3 wait:6 waiting:9 waker:3 walet:3 "
    "walk:7 walked:6 walking:8 wana:3 want:37 wants:7 war:45 wardrobe:3 waren:4 wart:3 was:99 washing:7 "
    "wat:15 watch:3 watched:4 watching:4 water:7 waves:3 way:9 we:44 wear:5 weather:4 weding:7 weg:16 "
    "wegen:8 weird:5 wek:69 wek-end:4 weken:3 wekend:32 weks:10 wel:13 welcome:3 welterusten:3 wen:16 "
    "went:13 wer:25 were:10 werk:11 what:15 whats:5 whatsap:3 when:30 where:7 while:5 who:7 whole:5 why:8 "
    "wie:21 wieder:15 wifi:7 wil:42 window:6 winter:6 wir:13 wird:6 wish:10 with:82 without:6 woche:15 "
    "wochen:5 wochenende:6 wohnung:4 won:9 wont:12 word:4 worden:4 wordt:6 woried:3 work:26 working:5 "
    "world:4 worse:4 would:6 writing:8 wrong:4 wrote:10 wurd:5 wurde:3 x:7 xanax:3 xq:3 y:41 ya:18 "
    "year:12 years:13 yesterday:7 yo:3 you:52 your:10 youre:4 yourselves:4 zag:3 zat:3 ze:15 zeg:3 zegt:4 "
    "zeit:3 zelfmord:3 zia:3 zieh:3 ziek:3 ziet:4 zijn:14 zit:5 zo:20 zoals:3 zombie:3 zon:3 zonder:9 "
    "zou:5 zovel:3 zu:21 zum:18 zur:4 zuruck:3 zus:4 zusamen:3 zwar:6 zware:3 zwei:8 "
)
# counts: end

COUNTS: dict[str, int] = {k: int(n) for k, n in (item.split(":") for item in _DATA.split())}
_SORTED = sorted(COUNTS)


@cache
def _starting(stem: str) -> int:
    total = 0
    for key in _SORTED[bisect_left(_SORTED, stem) :]:
        if not key.startswith(stem):
            break
        total += COUNTS[key]
    return total


def seen(anchors: Iterable[tuple[str, bool]]) -> int:
    """About how many everyday lines hold one of `anchors` ((key, whole word?) pairs)."""
    return sum(COUNTS.get(key, 0) if whole else _starting(key) for key, whole in anchors)


def count(data: Path) -> Counter[str]:
    """Lines of everyday and figurative talk in `data`'s corpus and training files per word key."""
    from chatserver.crisis import index as ix
    from chatserver.crisis.patterns import collapse
    from chatserver.crisis.text import plain

    counts: Counter[str] = Counter()
    for path in sorted([*(data / "crisis").glob("*.jsonl"), *(data / "crisis_train").glob("*.jsonl")]):
        for row in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(row) if row.strip() else {}
            if item.get("category") in ("everyday", "figurative"):
                keys: set[str] = set()
                for typed in plain(item["text"]).split():
                    word = typed.strip(ix._EDGES)
                    keys.update(collapse(p) for p in {word.replace("'", ""), *ix._INSIDE.split(word)} if p)
                counts.update(keys)
    return counts


def main() -> None:
    """Rewrite this module's counts from tests/data."""
    here = Path(__file__)
    counts = count(here.resolve().parents[2] / "tests" / "data")
    items = [f"{k}:{n}" for k, n in sorted(counts.items()) if n >= AT_LEAST and re.fullmatch(r"\S+", k)]
    lines, line = [], ""
    for item in items:
        if len(line) + len(item) > 100:
            lines.append(line)
            line = ""
        line += item + " "
    lines.append(line)
    body = "_DATA = (\n" + "".join(f'    "{chunk}"\n' for chunk in lines) + ")\n"
    text = here.read_text(encoding="utf-8")
    start, end = text.index(_BEGIN) + len(_BEGIN), text.index(_END)
    here.write_text(text[:start] + body + text[end:], encoding="utf-8")
    print(f"{len(items)} words", file=sys.stderr)


if __name__ == "__main__":
    main()
